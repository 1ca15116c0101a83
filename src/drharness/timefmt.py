"""Time as the harness writes and reads it: ISO-8601 in timezone-aware UTC, and durations as people read them."""

from __future__ import annotations

import datetime as dt


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def iso(moment: dt.datetime | float) -> str:
    """`moment` (a datetime, or epoch seconds) as ISO-8601 UTC with milliseconds."""
    if isinstance(moment, (int, float)):
        moment = dt.datetime.fromtimestamp(moment, dt.timezone.utc)
    return moment.astimezone(dt.timezone.utc).isoformat(timespec="milliseconds")


def parse_iso(value: object) -> dt.datetime | None:
    """An ISO-8601 string (a trailing Z allowed) or epoch seconds as an aware UTC datetime; None if neither.

    A time written without a zone is taken as UTC, the only zone the harness writes.
    """
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return dt.datetime.fromtimestamp(float(value), dt.timezone.utc)
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)
    if not isinstance(value, str):
        return None
    try:
        moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.timezone.utc)


def human_seconds(seconds: float, *, exact: bool = False) -> str:
    """A duration in hours, minutes or seconds: `4 h`, `2.5 min`, `12.3 s`.

    Three significant digits for figures; `exact` keeps every digit of hours and minutes (a configured
    window such as `27.7778 h` says exactly what the schedule allows).
    """
    spec = "g" if exact else ".3g"
    if abs(seconds) >= 3600:
        return f"{seconds / 3600:{spec}} h"
    if abs(seconds) >= 60:
        return f"{seconds / 60:{spec}} min"
    return f"{seconds:.3g} s"


def exact_duration(seconds: float) -> str:
    """A configured window with every digit of its hours or minutes kept: `27.7778 h`."""
    return human_seconds(seconds, exact=True)
