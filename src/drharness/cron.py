"""AWS cron expressions: parse them and say when they fire.

AWS Backup rules and EventBridge rules share one dialect, six fields wrapped in `cron(...)`:
minutes, hours, day-of-month, month, day-of-week, year. It differs from Unix cron: day-of-week runs
1-7 from Sunday, one of day-of-month and day-of-week must be `?`, and the year is a field. Wildcards:
`,` `-` `*` in every field, `/` in all but day-of-week, `L` and `W` in day-of-month, `L` and `#` in
day-of-week. Times are evaluated in a time zone (UTC unless a rule names one).
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from collections.abc import Iterator
from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

MIN_YEAR, MAX_YEAR = 1970, 2199
_MONTHS = {name: i for i, name in enumerate(("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"), 1)}
_DAYS = {name: i for i, name in enumerate(("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"), 1)}
_WRAPPED = re.compile(r"^\s*cron\((.*)\)\s*$", re.DOTALL)
_FIELD_NAMES = ("minutes", "hours", "day-of-month", "month", "day-of-week", "year")


@dataclass(frozen=True)
class DayOfMonth:
    """The day-of-month field: plain days, `L` (last day), `LW` (last weekday), `nW` (weekday nearest n)."""

    days: frozenset[int] = frozenset()
    last_day: bool = False
    last_weekday: bool = False
    nearest_weekday: frozenset[int] = frozenset()

    def days_in(self, year: int, month: int) -> list[int]:
        length = calendar.monthrange(year, month)[1]
        found = {d for d in self.days if d <= length}
        if self.last_day:
            found.add(length)
        if self.last_weekday:
            found.add(_nearest_weekday(year, month, length))
        for day in self.nearest_weekday:
            if day <= length:
                found.add(_nearest_weekday(year, month, day))
        return sorted(found)


@dataclass(frozen=True)
class DayOfWeek:
    """The day-of-week field (1 = SUN .. 7 = SAT): plain days, `nL` (last n of the month), `n#k` (k-th n)."""

    days: frozenset[int] = frozenset()
    last_of: frozenset[int] = frozenset()
    nth: frozenset[tuple[int, int]] = frozenset()

    def days_in(self, year: int, month: int) -> list[int]:
        length = calendar.monthrange(year, month)[1]
        found = []
        for day in range(1, length + 1):
            dow = aws_day_of_week(dt.date(year, month, day))
            if dow in self.days or (dow in self.last_of and day + 7 > length) or (dow, (day - 1) // 7 + 1) in self.nth:
                found.append(day)
        return found


@dataclass(frozen=True)
class AwsCron:
    """A parsed AWS cron expression; exactly one of `day_of_month` / `day_of_week` is set."""

    expression: str
    minutes: frozenset[int]
    hours: frozenset[int]
    day_of_month: DayOfMonth | None
    months: frozenset[int]
    day_of_week: DayOfWeek | None
    years: frozenset[int]

    def days_in(self, year: int, month: int) -> list[int]:
        spec = self.day_of_month if self.day_of_month is not None else self.day_of_week
        assert spec is not None  # parse_aws_cron guarantees one of them
        return spec.days_in(year, month)

    def matches(self, moment: dt.datetime) -> bool:
        """Whether the expression fires at this minute (a naive moment is read in the expression's zone)."""
        return (
            moment.year in self.years
            and moment.month in self.months
            and moment.day in self.days_in(moment.year, moment.month)
            and moment.hour in self.hours
            and moment.minute in self.minutes
        )


def aws_day_of_week(day: dt.date) -> int:
    """AWS numbering: 1 = Sunday .. 7 = Saturday."""
    return (day.weekday() + 1) % 7 + 1


def _nearest_weekday(year: int, month: int, day: int) -> int:
    """The weekday (Mon-Fri) nearest `day` without leaving the month, as `W` means."""
    weekday = dt.date(year, month, day).weekday()  # Monday = 0
    length = calendar.monthrange(year, month)[1]
    if weekday == 5:  # Saturday: Friday before, unless that leaves the month
        return day - 1 if day > 1 else day + 2
    if weekday == 6:  # Sunday: Monday after, unless that leaves the month
        return day + 1 if day < length else day - 2
    return day


# -- parsing ---------------------------------------------------------------------------------------


class _FieldError(ValueError):
    pass


def _number(token: str, low: int, high: int, names: dict[str, int] | None) -> int:
    upper = token.upper()
    if names and upper in names:
        return names[upper]
    if not token.isdigit():
        allowed = f" or one of {', '.join(names)}" if names else ""
        raise _FieldError(f"{token!r} is not a number{allowed}")
    value = int(token)
    if not low <= value <= high:
        raise _FieldError(f"{value} is outside {low}-{high}")
    return value


def _values(item: str, low: int, high: int, names: dict[str, int] | None, allow_step: bool) -> set[int]:
    """One comma-separated item of a field: `*`, `n`, `a-b`, with `/step` where the field allows it."""
    base, step = item, 1
    if "/" in item:
        if not allow_step:
            raise _FieldError(f"'/' is not allowed here ({item!r})")
        base, _, step_text = item.partition("/")
        if not step_text.isdigit() or int(step_text) < 1:
            raise _FieldError(f"step {step_text!r} in {item!r} must be a positive number")
        step = int(step_text)
    if base == "*":
        start, end = low, high
    elif "-" in base:
        first, _, last = base.partition("-")
        start, end = _number(first, low, high, names), _number(last, low, high, names)
        if start > end:
            raise _FieldError(f"range {base!r} runs backwards")
    else:
        start = _number(base, low, high, names)
        end = high if "/" in item else start
    return set(range(start, end + 1, step))


def _plain_field(text: str, low: int, high: int, names: dict[str, int] | None = None) -> frozenset[int]:
    found: set[int] = set()
    for item in text.split(","):
        if not item:
            raise _FieldError(f"empty item in {text!r}")
        found |= _values(item, low, high, names, allow_step=True)
    return frozenset(found)


def _day_of_month(text: str) -> DayOfMonth:
    days: set[int] = set()
    nearest: set[int] = set()
    last_day = last_weekday = False
    for item in text.split(","):
        upper = item.upper()
        if upper == "L":
            last_day = True
        elif upper == "LW":
            last_weekday = True
        elif upper.endswith("W"):
            nearest.add(_number(item[:-1], 1, 31, None))
        elif item:
            days |= _values(item, 1, 31, None, allow_step=True)
        else:
            raise _FieldError(f"empty item in {text!r}")
    return DayOfMonth(frozenset(days), last_day, last_weekday, frozenset(nearest))


def _day_of_week(text: str) -> DayOfWeek:
    days: set[int] = set()
    last_of: set[int] = set()
    nth: set[tuple[int, int]] = set()
    for item in text.split(","):
        upper = item.upper()
        if upper == "L":
            days.add(7)  # `L` alone means the last day of the week: every Saturday
        elif upper.endswith("L"):
            last_of.add(_number(item[:-1], 1, 7, _DAYS))
        elif "#" in item:
            day, _, which = item.partition("#")
            if not which.isdigit() or not 1 <= int(which) <= 5:
                raise _FieldError(f"{item!r}: the number after '#' must be 1-5")
            nth.add((_number(day, 1, 7, _DAYS), int(which)))
        elif item:
            days |= _values(item, 1, 7, _DAYS, allow_step=False)
        else:
            raise _FieldError(f"empty item in {text!r}")
    return DayOfWeek(frozenset(days), frozenset(last_of), frozenset(nth))


def parse_aws_cron(expression: str) -> AwsCron:
    """Parse `cron(min hour day-of-month month day-of-week year)`; ValueError says what is wrong."""
    if not isinstance(expression, str):
        raise ValueError(f"cron expression must be a string, got {type(expression).__name__}")
    wrapped = _WRAPPED.match(expression)
    if expression.strip().startswith("rate("):
        raise ValueError(
            f"{expression!r} is a rate expression, not cron; only cron(...) expressions have fixed fire times"
        )
    body = wrapped.group(1) if wrapped else expression
    fields = body.split()
    if len(fields) != 6:
        raise ValueError(
            f"cron expression {expression!r} has {len(fields)} fields; AWS cron needs 6: "
            "minutes hours day-of-month month day-of-week year, e.g. cron(0 2 * * ? *)"
        )
    minute_text, hour_text, dom_text, month_text, dow_text, year_text = fields
    if (dom_text == "?") == (dow_text == "?"):
        raise ValueError(
            f"cron expression {expression!r}: exactly one of day-of-month ({dom_text!r}) and day-of-week "
            f"({dow_text!r}) must be '?'"
        )
    index = 0
    try:
        minutes = _plain_field(minute_text, 0, 59)
        index = 1
        hours = _plain_field(hour_text, 0, 23)
        index = 2
        day_of_month = None if dom_text == "?" else _day_of_month(dom_text)
        index = 3
        months = _plain_field(month_text, 1, 12, _MONTHS)
        index = 4
        day_of_week = None if dow_text == "?" else _day_of_week(dow_text)
        index = 5
        years = _plain_field(year_text, MIN_YEAR, MAX_YEAR)
    except _FieldError as exc:
        raise ValueError(f"cron expression {expression!r}: {_FIELD_NAMES[index]} field: {exc}") from exc
    return AwsCron(expression, minutes, hours, day_of_month, months, day_of_week, years)


# -- fire times --------------------------------------------------------------------------------------


def _zone(timezone: str) -> ZoneInfo:
    try:
        return ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {timezone!r}; use an IANA name such as 'UTC' or 'Asia/Tokyo'") from exc


def _as_utc(moment: dt.datetime) -> dt.datetime:
    if moment.tzinfo is None:
        raise ValueError(f"{moment.isoformat()} has no time zone; pass a timezone-aware datetime (UTC)")
    return moment.astimezone(dt.timezone.utc)


def iter_fire_times(expression: str | AwsCron, after: dt.datetime, *, timezone: str = "UTC") -> Iterator[dt.datetime]:
    """Every fire time strictly after `after`, in order, as aware UTC datetimes (ends at year 2199)."""
    cron = expression if isinstance(expression, AwsCron) else parse_aws_cron(expression)
    zone = _zone(timezone)
    start = _as_utc(after)
    local_start = start.astimezone(zone)
    first_day = local_start.date()
    for year in sorted(y for y in cron.years if y >= first_day.year):
        for month in sorted(cron.months):
            if (year, month) < (first_day.year, first_day.month):
                continue
            for day in cron.days_in(year, month):
                if dt.date(year, month, day) < first_day:
                    continue
                for hour in sorted(cron.hours):
                    for minute in sorted(cron.minutes):
                        local = dt.datetime(year, month, day, hour, minute, tzinfo=zone)
                        moment = local.astimezone(dt.timezone.utc)
                        if moment.astimezone(zone).replace(tzinfo=None) != local.replace(tzinfo=None):
                            continue  # a local time skipped by a daylight-saving change never fires
                        if moment > start:
                            yield moment


def next_fire_times(expression: str | AwsCron, after: dt.datetime, n: int = 1, *, timezone: str = "UTC") -> list[dt.datetime]:
    """The next `n` fire times strictly after `after` (fewer if the expression stops firing)."""
    if n < 0:
        raise ValueError(f"n must be 0 or more, got {n}")
    found: list[dt.datetime] = []
    if n == 0:
        return found
    for moment in iter_fire_times(expression, after, timezone=timezone):
        found.append(moment)
        if len(found) >= n:
            break
    return found


def fire_times_between(
    expression: str | AwsCron, start: dt.datetime, end: dt.datetime, *, timezone: str = "UTC"
) -> list[dt.datetime]:
    """Fire times `t` with start < t <= end, in order."""
    stop = _as_utc(end)
    found: list[dt.datetime] = []
    for moment in iter_fire_times(expression, start, timezone=timezone):
        if moment > stop:
            break
        found.append(moment)
    return found
