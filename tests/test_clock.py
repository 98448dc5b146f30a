"""dispatch/clock.py: the times every output shows."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dispatch import clock


@given(st.floats(min_value=-2e9, max_value=253402300799.0))
def test_iso_is_what_datetime_writes(seconds: float) -> None:
    # Formatted with `time` (datetime costs every command its import): the same text, to the second.
    assert clock.iso(seconds) == datetime.fromtimestamp(int(seconds), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_a_pinned_time_reads_as_unix_seconds_or_iso(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DISPATCH_NOW", "1795420000")
    assert clock.now() == 1795420000.0
    monkeypatch.setenv("DISPATCH_NOW", "2026-11-23T10:30:00+00:00")
    assert clock.iso(clock.now()) == "2026-11-23T10:30:00Z"
    assert clock.age(clock.now() - 7200) == "2h"


@given(st.integers(min_value=0, max_value=253402300799))
def test_parse_iso_reads_our_times_as_datetime_does(second: int) -> None:
    text = clock.iso(second)
    assert clock.parse_iso(text) == datetime.fromisoformat(text).timestamp() == second


def test_parse_iso_refuses_what_datetime_refuses_and_imports_it_for_other_forms_only() -> None:
    for text in ("2023-02-29T00:00:00Z", "2024-04-31T12:00:00Z", "2024-13-01T00:00:00Z", "2024-01-01T24:00:00Z"):
        with pytest.raises(ValueError):
            datetime.fromisoformat(text)
        with pytest.raises(ValueError):
            clock.parse_iso(text)
    assert clock.parse_iso("2024-02-29T00:00:00Z") == 1709164800
    assert clock.parse_iso("2024-02-29T01:00:00+01:00") == 1709164800
    code = "import sys\nfrom dispatch import clock\nclock.parse_iso('2026-12-03T16:25:23Z')\nprint('datetime' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout == "False\n"
