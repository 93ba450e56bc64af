"""SOQL relative date literals (TODAY, LAST_N_DAYS:n, THIS_QUARTER, ...) as half-open UTC date ranges.

Salesforce evaluates them in the user's time zone; the emulator evaluates them in UTC against an
injectable ``now`` so tests are reproducible. Weeks start on Sunday (the en_US locale default).
Each literal is a range ``[start, end)`` of whole days starting at 00:00:00; the compiler turns
``=`` into "within the range" and ``<``/``>`` into comparisons with its edges.
"""

from __future__ import annotations

from datetime import date, timedelta


def _add_months(d: date, months: int) -> date:
    """First day of the month ``months`` after the month of ``d`` (``d`` must be a first day)."""
    total = d.year * 12 + (d.month - 1) + months
    return date(total // 12, total % 12 + 1, 1)


def _week_start(d: date) -> date:
    # Python: Monday=0 .. Sunday=6; Salesforce (en_US): weeks start on Sunday.
    return d - timedelta(days=(d.weekday() + 1) % 7)


def _quarter_start(d: date) -> date:
    return date(d.year, 3 * ((d.month - 1) // 3) + 1, 1)


def relative_range(name: str, n: int | None, today: date) -> tuple[date, date]:
    """The half-open day range ``[start, end)`` for a relative date literal.

    ``name`` is upper-case (``"LAST_N_DAYS"``); ``n`` is the ``:n`` argument of the ``*_N_*`` forms.
    Raises ``KeyError`` for an unknown name.
    """
    day = timedelta(days=1)
    week = _week_start(today)
    month = today.replace(day=1)
    quarter = _quarter_start(today)
    year = date(today.year, 1, 1)
    if n is None:
        fixed: dict[str, tuple[date, date]] = {
            "YESTERDAY": (today - day, today),
            "TODAY": (today, today + day),
            "TOMORROW": (today + day, today + 2 * day),
            "LAST_WEEK": (week - 7 * day, week),
            "THIS_WEEK": (week, week + 7 * day),
            "NEXT_WEEK": (week + 7 * day, week + 14 * day),
            "LAST_MONTH": (_add_months(month, -1), month),
            "THIS_MONTH": (month, _add_months(month, 1)),
            "NEXT_MONTH": (_add_months(month, 1), _add_months(month, 2)),
            # LAST_90_DAYS / LAST_N_DAYS include today; NEXT_* start tomorrow (Salesforce docs).
            "LAST_90_DAYS": (today - 90 * day, today + day),
            "NEXT_90_DAYS": (today + day, today + 91 * day),
            "LAST_QUARTER": (_add_months(quarter, -3), quarter),
            "THIS_QUARTER": (quarter, _add_months(quarter, 3)),
            "NEXT_QUARTER": (_add_months(quarter, 3), _add_months(quarter, 6)),
            "LAST_YEAR": (date(today.year - 1, 1, 1), year),
            "THIS_YEAR": (year, date(today.year + 1, 1, 1)),
            "NEXT_YEAR": (date(today.year + 1, 1, 1), date(today.year + 2, 1, 1)),
        }
        return fixed[name]
    if name == "LAST_N_DAYS":
        return (today - n * day, today + day)
    if name == "NEXT_N_DAYS":
        return (today + day, today + (n + 1) * day)
    if name == "LAST_N_WEEKS":
        return (week - 7 * n * day, week)
    if name == "NEXT_N_WEEKS":
        return (week + 7 * day, week + 7 * (n + 1) * day)
    if name == "LAST_N_MONTHS":
        return (_add_months(month, -n), month)
    if name == "NEXT_N_MONTHS":
        return (_add_months(month, 1), _add_months(month, n + 1))
    if name == "LAST_N_YEARS":
        return (date(today.year - n, 1, 1), year)
    if name == "NEXT_N_YEARS":
        return (date(today.year + 1, 1, 1), date(today.year + n + 1, 1, 1))
    raise KeyError(name)
