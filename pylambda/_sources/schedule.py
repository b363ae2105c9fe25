"""EventBridge schedule expressions: ``rate(...)`` and ``cron(...)``, in UTC.

``rate(value unit)``: unit ``minute|minutes|hour|hours|day|days``, singular
exactly when the value is 1; a rate starts when its rule is created ("a
rate expression starts when you create the scheduled event rule"): a
``rate(1 hour)`` rule created at 08:20 fires at 09:20, 10:20 ...  ``cron(minutes hours day-of-month month
day-of-week year)``: six fields; ``,`` ``-`` ``*`` ``/`` everywhere; ``?`` in
exactly one of day-of-month and day-of-week; ``L`` and ``W`` in
day-of-month (``L``, ``15W``, ``LW``); ``L`` and ``#`` in day-of-week
(``5L`` the last Thursday, ``3#2`` the second Tuesday); months ``JAN-DEC``,
days ``SUN-SAT`` (1 = SUN); years 1970-2199.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from collections.abc import Callable

from .._errors import InvalidParameterValueError
from . import Clocked

__all__ = ["Schedule", "parse_schedule"]

_MONTHS = {
    m: i for i, m in enumerate(["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"], 1)
}
_DAYS = {d: i for i, d in enumerate(["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"], 1)}
_RATE = re.compile(r"rate\((\d+) (minute|minutes|hour|hours|day|days)\)")
_UNIT_S = {"minute": 60, "hour": 3600, "day": 86400}


def _bad(expression: str, why: str) -> InvalidParameterValueError:
    return InvalidParameterValueError(f"Parameter ScheduleExpression is not valid: {expression!r} ({why})")


def _values(field: str, low: int, high: int, names: dict[str, int], expression: str) -> set[int]:
    out: set[int] = set()
    for part in field.split(","):
        step = 1
        if "/" in part:
            part, step_text = part.split("/", 1)
            if not step_text.isdigit() or int(step_text) < 1:
                raise _bad(expression, f"bad increment in {field!r}")
            step = int(step_text)
        if part == "*":
            lo, hi = low, high
        elif "-" in part:
            a, b = part.split("-", 1)
            lo, hi = _number(a, names, expression), _number(b, names, expression)
        else:
            lo = _number(part, names, expression)
            hi = high if step > 1 else lo
        if not (low <= lo <= high and low <= hi <= high):
            raise _bad(expression, f"{field!r} is out of range {low}-{high}")
        if lo <= hi:
            out.update(range(lo, hi + 1, step))
        else:  # wrapping range, e.g. FRI-MON
            out.update(v for v in list(range(lo, high + 1)) + list(range(low, hi + 1)) if (v - lo) % step == 0)
    return out


def _number(text: str, names: dict[str, int], expression: str) -> int:
    text = text.upper()
    if text in names:
        return names[text]
    if not text.isdigit():
        raise _bad(expression, f"unknown value {text!r}")
    return int(text)


def _day_matcher(dom: str, dow: str, expression: str) -> Callable[[dt.date], bool]:
    if (dom == "?") == (dow == "?"):
        raise _bad(expression, "exactly one of day-of-month and day-of-week must be '?'")
    if dom != "?":
        if dom == "L":
            return lambda d: d.day == calendar.monthrange(d.year, d.month)[1]
        if dom == "LW":
            return lambda d: d == _last_weekday(d.year, d.month)
        m = re.fullmatch(r"(\d{1,2})W", dom)
        if m:
            target = int(m.group(1))
            if not 1 <= target <= 31:
                raise _bad(expression, "W day out of range")
            return lambda d: d == _nearest_weekday(d.year, d.month, target)
        days = _values(dom, 1, 31, {}, expression)
        return lambda d: d.day in days
    m = re.fullmatch(r"([1-7]|[A-Za-z]{3})L", dow)
    if m:
        wd = _number(m.group(1), _DAYS, expression)
        return lambda d: _eb_weekday(d) == wd and d.day + 7 > calendar.monthrange(d.year, d.month)[1]
    m = re.fullmatch(r"([1-7]|[A-Za-z]{3})#([1-5])", dow)
    if m:
        wd, nth = _number(m.group(1), _DAYS, expression), int(m.group(2))
        return lambda d: _eb_weekday(d) == wd and (d.day - 1) // 7 + 1 == nth
    if dow == "L":
        return lambda d: _eb_weekday(d) == 7
    days = _values(dow, 1, 7, _DAYS, expression)
    return lambda d: _eb_weekday(d) in days


def _eb_weekday(d: dt.date) -> int:
    """EventBridge's day of week: 1 = Sunday … 7 = Saturday."""
    return (d.weekday() + 1) % 7 + 1


def _last_weekday(year: int, month: int) -> dt.date:
    d = dt.date(year, month, calendar.monthrange(year, month)[1])
    while d.weekday() >= 5:
        d -= dt.timedelta(days=1)
    return d


def _nearest_weekday(year: int, month: int, day: int) -> dt.date | None:
    last = calendar.monthrange(year, month)[1]
    if day > last:
        return None
    d = dt.date(year, month, day)
    if d.weekday() == 5:  # Saturday -> Friday, unless that leaves the month
        return d - dt.timedelta(days=1) if day > 1 else d + dt.timedelta(days=2)
    if d.weekday() == 6:  # Sunday -> Monday, unless that leaves the month
        return d + dt.timedelta(days=1) if day < last else d - dt.timedelta(days=2)
    return d


def parse_schedule(expression: str, start: float = 0.0) -> Callable[[float], float | None]:
    """A function ``after(t) -> next firing time > t`` (epoch seconds, UTC), or None if never.

    ``start``: when the rule was created; a rate fires at ``start`` + n
    periods (n >= 1); a cron ignores it.

    Raises:
        InvalidParameterValueError: the expression is not one EventBridge accepts.
    """
    m = _RATE.fullmatch(expression)
    if m:
        value, unit = int(m.group(1)), m.group(2)
        if value < 1 or (value == 1) != (not unit.endswith("s")):
            raise _bad(expression, "the unit is singular exactly when the value is 1")
        period = value * _UNIT_S[unit.rstrip("s")]
        return lambda t: start + max(1, int((t - start) // period) + 1) * period
    m = re.fullmatch(r"cron\((.*)\)", expression)
    if not m:
        raise _bad(expression, "use rate(...) or cron(...)")
    fields = m.group(1).split()
    if len(fields) != 6:
        raise _bad(expression, "cron needs 6 fields: minutes hours day-of-month month day-of-week year")
    minutes = sorted(_values(fields[0], 0, 59, {}, expression))
    hours = sorted(_values(fields[1], 0, 23, {}, expression))
    day_ok = _day_matcher(fields[2].upper(), fields[4].upper(), expression)
    months = _values(fields[3], 1, 12, _MONTHS, expression)
    years = _values(fields[5], 1970, 2199, {}, expression)

    def after(t: float) -> float | None:
        start = dt.datetime.fromtimestamp(int(t // 60) * 60, dt.timezone.utc) + dt.timedelta(minutes=1)
        day = start.date()
        for _ in range(366 * 30):  # searching further than 30 years: never
            if day.year > 2199:
                return None
            if day.year in years and day.month in months and day_ok(day):
                for h in hours:
                    for mi in minutes:
                        when = dt.datetime(day.year, day.month, day.day, h, mi, tzinfo=dt.timezone.utc)
                        if when >= start:
                            return when.timestamp()
            day += dt.timedelta(days=1)
        return None

    return after


class Schedule(Clocked):
    """An EventBridge schedule rule: ``Schedule("rate(5 minutes)")`` or ``Schedule("cron(0 12 * * ? *)")``.

    Connected to a function with ``invoker.create_event_source_mapping(schedule, fn)``, it
    invokes the function asynchronously with a ``Scheduled Event`` at each
    firing time of its clock.  A ``cron`` lines up with the UTC calendar; a
    ``rate`` with the rule's creation (``created``: when the ``Schedule``
    was made, on its clock; moved to the Invoker's clock with the schedule
    when it adopts it).  Under a ``ManualClock``, ``clock.advance(3600)``
    fires every occurrence in that hour, in order, each with its own time.
    """

    def __init__(
        self,
        expression: str,
        *,
        name: str = "schedule",
        clock=None,
        region: str = "us-east-1",
        account_id: str = "123456789012",
    ) -> None:
        parse_schedule(expression)  # refuse a bad expression before anything else
        self.expression = expression
        self.name = name
        self._init_clock(clock)
        self.created = self.clock.now()
        self._after = parse_schedule(expression, self.created)
        self.region = region
        self.account_id = account_id

    def next_after(self, t: float) -> float | None:
        """The first firing time after ``t`` (clock time), or None if the rule never fires again."""
        return self._after(t)

    def _rebase(self, delta: float) -> None:
        self.created += delta
        self._after = parse_schedule(self.expression, self.created)

    @property
    def arn(self) -> str:
        """``arn:aws:events:<region>:<account>:rule/<name>``."""
        return f"arn:aws:events:{self.region}:{self.account_id}:rule/{self.name}"

    def __repr__(self) -> str:
        return f"Schedule({self.expression!r}, name={self.name!r})"
