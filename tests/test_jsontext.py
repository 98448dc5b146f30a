"""dispatch.jsontext reads JSON as json.loads reads it, and writes a line as json.dumps writes it, without
importing json until a text is not JSON or a value cannot be written."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable

from hypothesis import given
from hypothesis import strategies as st

from dispatch import jsontext

GOOD = ['{"a": [1, 2.5, "x", null, true, false], "b": {}}', " \n\t[]\r\n ", '"é\\u00e9\\n"', "-0.0", "1e400",
        "[NaN, Infinity, -Infinity]", '{"a": 1, "a": 2}', "123456789012345678901234567890"]
BAD = ["", "   ", '{"a" 1}', '"abc', "[1 2]", '{"a": 1,}', '"\\x"', '"a\x01b"', "[1] x", "\ufeff[]", "nul", "{'a': 1}"]


def _outcome(read: Callable[[str], object], text: str) -> object:
    """What READ makes of TEXT: the value's repr, or the error's kind and message."""
    try:
        return repr(read(text))
    except ValueError as e:
        return type(e).__name__, str(e)


def test_a_fresh_command_reads_json_without_json_and_errors_as_json_says_them() -> None:
    code = ("import sys\nfrom dispatch import jsontext\n"
            "def outcome(t):\n"
            "    try:\n        return repr(jsontext.loads(t))\n"
            "    except ValueError as e:\n        return type(e).__name__, str(e)\n"
            "    finally:  # each text read as the first of a command that has not imported json\n"
            "        for name in [m for m in sys.modules if m.partition('.')[0] == 'json']:\n"
            "            del sys.modules[name]\n"
            f"good = [outcome(t) for t in {GOOD!r}]\n"
            "line = jsontext.dumps({'b': [1.5, None, float('inf')], 'a': 'é'})\n"
            "print('json' in sys.modules)\n"
            f"bad = [outcome(t) for t in {BAD!r}]\n"
            "print(repr([good, bad]))\nprint(line)\n")
    # (a bad text imports json, to say what is wrong as json.loads does)
    lines = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.splitlines()
    assert (lines[0], lines[1]) == ("False", repr([[_outcome(json.loads, t) for t in GOOD], [_outcome(json.loads, t) for t in BAD]]))
    assert lines[2] == '{"a": "é", "b": [1.5, null, Infinity]}'  # (written before json was imported)


def test_in_a_process_that_has_json_the_same_answers() -> None:
    assert [_outcome(jsontext.loads, t) for t in GOOD + BAD] == [_outcome(json.loads, t) for t in GOOD + BAD]


VALUES = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
                      lambda inner: st.lists(inner) | st.dictionaries(st.text(), inner), max_leaves=20)


@given(VALUES | st.dictionaries(st.text(), VALUES) | st.floats())
def test_a_line_is_written_as_json_dumps_writes_it(value: object) -> None:
    assert jsontext.dumps(value) == json.dumps(value, sort_keys=True, ensure_ascii=False)


def test_what_json_cannot_write_it_says_as_json_does() -> None:
    said = []
    for value in ({"a": object()}, {1: "a", "b": 2}, [1, {2j}]):  # (not JSON; keys sort as different types)
        for write in (jsontext.dumps, lambda v: json.dumps(v, sort_keys=True, ensure_ascii=False)):
            try:
                write(value)
            except (TypeError, ValueError) as e:
                said.append((type(e).__name__, str(e)))
    assert said[0::2] == said[1::2] and len(said) == 6
    assert jsontext.dumps({"b": [1.5, None], "2": "é"}) == '{"2": "é", "b": [1.5, null]}'


@given(VALUES, st.sampled_from([{}, {"indent": 2}, {"ensure_ascii": False}, {"separators": (",", ":")}]))
def test_whatever_json_writes_it_reads_back_as_json_does(value: object, how: dict[str, object]) -> None:
    text = json.dumps(value, **how)  # type: ignore[arg-type]
    assert jsontext.loads(text) == json.loads(text)
    assert jsontext.string(text) == json.dumps(text, ensure_ascii=False)
