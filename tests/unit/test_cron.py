"""AWS cron parsing and fire times, for the guide's backup and report schedules."""

from __future__ import annotations

import datetime as dt

import pytest

from drharness.cron import aws_day_of_week, fire_times_between, next_fire_times, parse_aws_cron

UTC = dt.timezone.utc


def at(*parts: int) -> dt.datetime:
    return dt.datetime(*parts, tzinfo=UTC)


def test_daily_backup_fires_at_two_every_day():
    times = next_fire_times("cron(0 2 * * ? *)", at(2025, 3, 1, 1, 59), 3)
    assert times == [at(2025, 3, 1, 2, 0), at(2025, 3, 2, 2, 0), at(2025, 3, 3, 2, 0)]


def test_fire_time_equal_to_after_is_not_next():
    assert next_fire_times("cron(0 2 * * ? *)", at(2025, 3, 1, 2, 0), 1) == [at(2025, 3, 2, 2, 0)]


def test_weekly_backup_fires_on_sundays_at_three():
    times = next_fire_times("cron(0 3 ? * SUN *)", at(2025, 3, 1), 3)  # 2025-03-01 is a Saturday
    assert times == [at(2025, 3, 2, 3), at(2025, 3, 9, 3), at(2025, 3, 16, 3)]
    assert all(t.weekday() == 6 for t in times)


def test_monthly_report_fires_on_the_first_at_two():
    times = next_fire_times("cron(0 2 1 * ? *)", at(2025, 1, 15), 3)
    assert times == [at(2025, 2, 1, 2), at(2025, 3, 1, 2), at(2025, 4, 1, 2)]


def test_numeric_day_of_week_counts_from_sunday():
    assert aws_day_of_week(dt.date(2025, 3, 2)) == 1  # Sunday
    assert aws_day_of_week(dt.date(2025, 3, 8)) == 7  # Saturday
    assert next_fire_times("cron(0 3 ? * 1 *)", at(2025, 3, 1), 1) == [at(2025, 3, 2, 3)]


def test_steps_ranges_and_lists():
    times = next_fire_times("cron(0/15 9-10 ? * MON-FRI *)", at(2025, 3, 7, 10, 40), 3)  # Friday
    assert times == [at(2025, 3, 7, 10, 45), at(2025, 3, 10, 9, 0), at(2025, 3, 10, 9, 15)]
    assert next_fire_times("cron(5,35 */12 * JAN,JUL ? *)", at(2025, 1, 1), 3) == [
        at(2025, 1, 1, 0, 5), at(2025, 1, 1, 0, 35), at(2025, 1, 1, 12, 5)
    ]


def test_last_day_last_weekday_nearest_weekday_and_nth():
    assert next_fire_times("cron(0 0 L * ? *)", at(2024, 2, 1), 2) == [at(2024, 2, 29), at(2024, 3, 31)]
    assert next_fire_times("cron(0 0 LW * ? *)", at(2025, 5, 1), 1) == [at(2025, 5, 30)]  # 31st is a Saturday
    assert next_fire_times("cron(0 0 15W * ? *)", at(2025, 3, 1), 1) == [at(2025, 3, 14)]  # 15th is a Saturday
    assert next_fire_times("cron(0 0 1W * ? *)", at(2025, 2, 1), 1) == [at(2025, 2, 3)]  # Feb 1 Sat -> Mon 3rd
    assert next_fire_times("cron(0 0 ? * 6L *)", at(2025, 3, 1), 1) == [at(2025, 3, 28)]  # last Friday
    assert next_fire_times("cron(0 0 ? * 2#1 *)", at(2025, 3, 1), 1) == [at(2025, 3, 3)]  # first Monday


def test_year_field_bounds_the_schedule():
    assert next_fire_times("cron(0 0 1 1 ? 2026)", at(2025, 6, 1), 3) == [at(2026, 1, 1)]


def test_impossible_date_never_fires():
    assert next_fire_times("cron(0 0 30 2 ? *)", at(2025, 1, 1), 1) == []


def test_time_zone_shifts_fire_times():
    times = next_fire_times("cron(0 2 * * ? *)", at(2025, 3, 1), 1, timezone="Asia/Tokyo")
    assert times == [at(2025, 3, 1, 17, 0)]  # 02:00 JST is 17:00 UTC the day before


def test_fire_times_between_is_open_closed():
    found = fire_times_between("cron(0 2 * * ? *)", at(2025, 3, 1, 2), at(2025, 3, 3, 2))
    assert found == [at(2025, 3, 2, 2), at(2025, 3, 3, 2)]


def test_matches_a_minute():
    cron = parse_aws_cron("cron(0 3 ? * SUN *)")
    assert cron.matches(dt.datetime(2025, 3, 2, 3, 0))
    assert not cron.matches(dt.datetime(2025, 3, 3, 3, 0))


@pytest.mark.parametrize(
    ("expression", "fragment"),
    [
        ("cron(0 2 * * *)", "has 5 fields"),
        ("cron(0 2 * * * *)", "exactly one of day-of-month"),
        ("cron(0 2 ? * ? *)", "exactly one of day-of-month"),
        ("cron(60 2 * * ? *)", "minutes field: 60 is outside 0-59"),
        ("cron(0 24 * * ? *)", "hours field: 24 is outside 0-23"),
        ("cron(0 2 32 * ? *)", "day-of-month field: 32 is outside 1-31"),
        ("cron(0 2 * 13 ? *)", "month field: 13 is outside 1-12"),
        ("cron(0 2 ? * FUNDAY *)", "day-of-week field: 'FUNDAY' is not a number"),
        ("cron(0 2 ? * MON/2 *)", "day-of-week field: '/' is not allowed"),
        ("cron(0 2 ? * 2#6 *)", "must be 1-5"),
        ("cron(0 2 * * ? 1969)", "year field: 1969 is outside 1970-2199"),
        ("cron(0 10-2 * * ? *)", "hours field: range '10-2' runs backwards"),
        ("cron(0/0 2 * * ? *)", "step '0'"),
        ("cron(0,,5 2 * * ? *)", "empty item"),
        ("rate(1 day)", "rate expression"),
    ],
)
def test_bad_expressions_say_what_is_wrong(expression, fragment):
    with pytest.raises(ValueError) as info:
        parse_aws_cron(expression)
    assert fragment in str(info.value)
    assert expression in str(info.value)


def test_naive_after_and_unknown_zone_are_refused():
    with pytest.raises(ValueError, match="no time zone"):
        next_fire_times("cron(0 2 * * ? *)", dt.datetime(2025, 1, 1), 1)
    with pytest.raises(ValueError, match="unknown time zone"):
        next_fire_times("cron(0 2 * * ? *)", at(2025, 1, 1), 1, timezone="Mars/Olympus")
