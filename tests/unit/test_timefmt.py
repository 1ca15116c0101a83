"""One time format: ISO-8601 in aware UTC both ways, and durations as people read them."""

from __future__ import annotations

import datetime as dt

from drharness.timefmt import human_seconds, iso, parse_iso

T0 = dt.datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=dt.timezone.utc)


def test_iso_round_trips_in_utc():
    assert iso(T0) == "2026-01-02T03:04:05.678+00:00"
    assert parse_iso(iso(T0)) == T0
    assert parse_iso("2026-01-02T03:04:05.678Z") == T0
    assert parse_iso(T0.timestamp()) == T0


def test_a_time_without_zone_is_utc_and_junk_is_none():
    assert parse_iso("2026-01-02T03:04:05.678") == T0
    assert parse_iso("yesterday") is None and parse_iso(None) is None and parse_iso(True) is None


def test_durations_read_in_hours_minutes_or_seconds():
    assert [human_seconds(s) for s in (14400, 150, 12.34)] == ["4 h", "2.5 min", "12.3 s"]
    assert human_seconds(100000) == "27.8 h" and human_seconds(100000, exact=True) == "27.7778 h"
