"""JSON read by the C scanner alone, and strings escaped by the C encoder alone.

The hot commands read JSON (worker records, their caches) and write it (`--json`), but importing the
json package (its decoder, scanner and encoder, and the regular expressions they compile as they load)
took 1.5 ms of every `status` here, out of some 47. Its C half, `_json`, loads with nothing. `loads`
reads what `json.loads` reads, the same way; a text it cannot read (not JSON, or a Python without
`_json`) goes to `json.loads` itself, which says what is wrong as ever. Writing a file stays json's
(`import json` where it is written: not on the way of a command that only reads).
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
    from _json import encode_basestring, make_scanner
except ImportError:  # (a Python without it: json's own pure-Python halves)
    from json.encoder import encode_basestring

    _scan = None
else:
    _scan = make_scanner(_Reading())  # type: ignore[arg-type]  # (it reads a decoder's attributes)

string = encode_basestring  # a str as JSON, non-ASCII kept (json.dumps with ensure_ascii=False)


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

