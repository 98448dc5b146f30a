"""JSON read by the C scanner alone, and strings escaped by the C encoder alone.

The hot commands read JSON (worker records, their caches) and write it (`--json`), but importing the
json package (its decoder, scanner and encoder, and the regular expressions they compile as they load)
took 1.5 ms of every `status` here, out of some 47. Its C half, `_json`, loads with nothing. `loads`
reads what `json.loads` reads, the same way, and `dumps` writes a line as `json.dumps` does (the events
log's); what they cannot read or write (or a Python without `_json`) goes to json itself, which says what
is wrong as ever. Other files stay json's (`import json` where they are written: not on the way of a
command that only reads).
"""

from __future__ import annotations

from dispatch.typed import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import Any

_SPACE = " \t\n\r"  # what JSON allows around a value (json.decoder's WHITESPACE)


class _Reading:
    """What json.decoder.JSONDecoder() hands the C scanner: its defaults, read once as the scanner is made."""

    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int
    parse_constant = {"-Infinity": float("-inf"), "Infinity": float("inf"), "NaN": float("nan")}.__getitem__


try:
    from _json import encode_basestring, make_encoder, make_scanner
except ImportError:  # (a Python without it: json's own pure-Python halves)
    from json.encoder import encode_basestring

    _scan: Any = None
    _encoder: Any = None
else:
    _scan = make_scanner(_Reading())  # type: ignore[arg-type]  # (it reads a decoder's attributes)
    _encoder = make_encoder

string = encode_basestring  # a str as JSON, non-ASCII kept (json.dumps with ensure_ascii=False)


def dumps(value: Any) -> str:
    """`json.dumps(VALUE, sort_keys=True, ensure_ascii=False)`: one line, by the C encoder json.dumps itself
    uses without an indent; a value it cannot write goes to json.dumps, which says what is wrong."""
    if _encoder is not None:
        try:  # (made for each call, as json makes it: what it keeps to find a cycle starts empty)
            return "".join(_encoder({}, _unwritable, string, None, ": ", ", ", True, False, True)(value, 0))
        except (TypeError, ValueError):
            pass
    import json

    return json.dumps(value, sort_keys=True, ensure_ascii=False)


def _unwritable(value: Any) -> Any:
    raise TypeError(type(value).__name__)


def loads(text: str) -> Any:
    """`json.loads(TEXT)`; a ValueError (json's JSONDecodeError) when TEXT is not JSON."""
    if _scan is not None:
        try:
            # (a text that is not JSON: the scanner's error needs json.decoder loaded, so it fails without it)
            value, end = _scan(text, len(text) - len(text.lstrip(_SPACE)))
        except (StopIteration, SystemError):
            pass
        else:
            if not text[end:].strip(_SPACE):
                return value
    import json

    return json.loads(text)

