"""dispatch/clock.py: the times every output shows."""

from __future__ import annotations

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
