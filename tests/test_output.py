"""`output.dumps`: the JSON every `--json` prints, byte for byte what `json.dumps` with an indent writes."""

from __future__ import annotations

import json
import math
from enum import IntEnum
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dispatch.output import Rendered, dumps


def _json_dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True, indent=2, ensure_ascii=False)


SCALARS = st.none() | st.booleans() | st.integers() | st.floats() | st.text()
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=5) | st.lists(st.text(), max_size=5) | st.tuples(inner, inner)
    | st.dictionaries(st.text(), inner, max_size=5),
    max_leaves=40,
)


@settings(max_examples=300, deadline=None)
@given(VALUES)
def test_dumps_writes_what_json_writes(value: Any) -> None:
    assert dumps(value) == _json_dumps(value)


class Level(IntEnum):
    LOW = 1


@pytest.mark.parametrize("value", [
    {"review": {"files": [{"hunks": [{"lines": [" a", "-b\t\"é\"", "+\x00\u2028"]}], "path": "a b"}]}},
    {"empty": {}, "none": [], "nested": [[], [{}], ["x", 1, None]], "ints": [True, 0, -1, 2**70], "enum": Level.LOW},
    {"floats": [0.1, -0.0, 1e300, math.inf, -math.inf], "keys": {"b": 1, "a": 2, "": 3, "é": 4, "A": 5}},
    {3: "int keys", 10: "json turns into strings"},  # keys the fast path hands to json
    [], {}, "only a string", 42, None,
])
def test_dumps_writes_what_json_writes_for_these(value: Any) -> None:
    assert dumps(value) == _json_dumps(value)


def test_dumps_refuses_what_json_refuses() -> None:
    with pytest.raises(TypeError, match="not JSON serializable"):
        dumps({"path": object()})


def test_nan_is_written_as_json_writes_it() -> None:
    assert dumps([math.nan]) == _json_dumps([math.nan]) == "[\n  NaN\n]"


def _some_made_ahead(value: Any, draw: Any) -> Any:
    """VALUE with some of its lists and dicts (drawn) made ahead, as review makes its files' JSON."""
    if isinstance(value, dict):
        value = {key: _some_made_ahead(item, draw) for key, item in value.items()}
    elif isinstance(value, list):
        value = [_some_made_ahead(item, draw) for item in value]
    return Rendered(value) if draw(st.booleans()) else value


@settings(max_examples=300, deadline=None)
@given(VALUES, st.data())
def test_parts_made_ahead_are_written_as_json_writes_the_whole(value: Any, data: st.DataObject) -> None:
    assert dumps(_some_made_ahead(value, data.draw)) == _json_dumps(value)


def test_parts_made_ahead_beside_what_json_alone_writes() -> None:
    # Keys the fast path hands to json, inside a part made ahead and around one.
    inner = {3: ["a\nb", {"c": None}]}
    assert dumps({"files": [Rendered(inner)]}) == _json_dumps({"files": [inner]})
    assert dumps({7: Rendered({"deep": [inner]})}) == _json_dumps({7: {"deep": [inner]}})
