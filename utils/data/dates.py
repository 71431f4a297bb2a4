"""Date normalisation: human-readable dates in many formats -> ISO ``YYYY-MM-DD``, by character.

A small translation task with a known alignment, for chapter 4::

    "sunday 22 november 2026"  ->  "2026-11-22"
    "22/11/26"                   ->  "2026-11-22"
    "nov 22, 2026"               ->  "2026-11-22"

Sources and targets are sequences of characters. Every example also records where the year,
the month and the day are written in the source (character spans ``[start, end)``), so that an
attention map can be scored against the true alignment: target characters 0–3 (the year) should
look at the source's year span, 5–6 at the month span and 8–9 at the day span
(:data:`TARGET_SPANS`).

Two-digit years are read with a pivot: ``00``–``49`` mean 2000–2049, ``50``–``99`` mean
1950–1999, so dates are drawn from 1950–2049 and every source has exactly one answer. Formats
that would be ambiguous (day/month versus month/day with the same separators) are left out.
"""

from __future__ import annotations

import datetime as dt
import random
import re
from collections.abc import Sequence
from typing import NamedTuple

from utils.data.sequences import Vocab
from utils.validate import require_int

__all__ = [
    "DATE_FORMATS", "TARGET_SPANS", "SOURCE_CHARS", "TARGET_CHARS", "DateTask",
    "format_date", "make_date_task",
]

MONTHS = ["january", "february", "march", "april", "may", "june", "july", "august",
          "september", "october", "november", "december"]
WEEKDAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]

# Fields a format may use. Year, month and day fields record a span; weekdays do not.
#   {yyyy} 2026  {yy} 26  {mm} 11  {m} 11 (no leading zero)  {month} november  {mon} nov
#   {dd} 05  {d} 5  {dth} 5th  {weekday} saturday  {wkd} sat
DATE_FORMATS: tuple[str, ...] = (
    "{yyyy}-{mm}-{dd}",                 # 2026-11-22 (already ISO)
    "{dd}/{mm}/{yy}",                   # 22/11/26
    "{d}/{m}/{yyyy}",                   # 22/11/2026
    "{dd}.{mm}.{yyyy}",                 # 22.11.2026
    "{yyyy}{mm}{dd}",                   # 20261122
    "{d} {month} {yyyy}",               # 22 november 2026
    "{weekday} {d} {month} {yyyy}",     # sunday 22 november 2026
    "{d} {mon} {yyyy}",                 # 22 nov 2026
    "{d} {mon} {yy}",                   # 22 nov 26
    "{mon} {d}, {yyyy}",                # nov 22, 2026
    "{month} {d}, {yyyy}",              # november 22, 2026
    "{month} {dth}, {yyyy}",            # november 22nd, 2026
    "{dth} of {month} {yyyy}",          # 22nd of november 2026
    "{wkd}, {d} {mon} {yyyy}",          # sat, 22 nov 2026
    "{weekday}, {month} {d}, {yyyy}",   # sunday, november 22, 2026
)

TARGET_SPANS: dict[str, tuple[int, int]] = {"year": (0, 4), "month": (5, 7), "day": (8, 10)}
SOURCE_CHARS = "0123456789abcdefghijklmnopqrstuvwxyz ,./-"
TARGET_CHARS = "0123456789-"
FIRST_DATE, LAST_DATE = dt.date(1950, 1, 1), dt.date(2049, 12, 31)
_FIELD = re.compile(r"\{(\w+)\}")


def _ordinal(day: int) -> str:
    suffix = "th" if 10 <= day % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(day % 10, "th")
    return f"{day}{suffix}"


def format_date(date: dt.date, fmt: str) -> tuple[str, dict[str, tuple[int, int]]]:
    """Write ``date`` in format ``fmt`` (see :data:`DATE_FORMATS`).

    Returns:
        ``(text, spans)``: the text, and for ``"year"``, ``"month"`` and ``"day"`` the
        ``[start, end)`` character span that expresses it (for ``{dth}`` only the digits).

    Raises:
        ValueError: an unknown field, or a format without a year, a month and a day.
    """
    values = {
        "yyyy": f"{date.year:04d}", "yy": f"{date.year % 100:02d}",
        "mm": f"{date.month:02d}", "m": str(date.month),
        "month": MONTHS[date.month - 1], "mon": MONTHS[date.month - 1][:3],
        "dd": f"{date.day:02d}", "d": str(date.day), "dth": _ordinal(date.day),
        "weekday": WEEKDAYS[date.weekday()], "wkd": WEEKDAYS[date.weekday()][:3],
    }
    field_of = {"yyyy": "year", "yy": "year", "mm": "month", "m": "month", "month": "month",
                "mon": "month", "dd": "day", "d": "day", "dth": "day"}
    text, spans, last = "", {}, 0
    for match in _FIELD.finditer(fmt):
        name = match.group(1)
        if name not in values:
            raise ValueError(f"unknown field {{{name}}} in format {fmt!r}")
        text += fmt[last:match.start()]
        value = values[name]
        if name in field_of:
            digits = len(str(date.day)) if name == "dth" else len(value)
            spans[field_of[name]] = (len(text), len(text) + digits)
        text += value
        last = match.end()
    text += fmt[last:]
    if set(spans) != {"year", "month", "day"}:
        raise ValueError(f"format {fmt!r} must contain a year, a month and a day field")
    return text, spans


class DateTask(NamedTuple):
    """What :func:`make_date_task` returns (a tuple, so it unpacks)."""

    pairs: list[tuple[list[str], list[str]]]    # (source characters, target characters)
    src_vocab: Vocab                            # SOURCE_CHARS and the four special tokens
    tgt_vocab: Vocab                            # TARGET_CHARS and the four special tokens
    spans: list[dict[str, tuple[int, int]]]     # per example: year/month/day source spans
    formats: list[str]                          # per example: the format used


def make_date_task(n: int, seed: int = 0, formats: Sequence[str] = DATE_FORMATS) -> DateTask:
    """``n`` random dates from 1950–2049, each written in a random format, with ISO targets.

    Args:
        n: number of examples.
        seed: the same seed gives the same examples.
        formats: the formats to draw from (uniformly).

    Returns:
        A :class:`DateTask` ``(pairs, src_vocab, tgt_vocab, spans, formats)``.

    Raises:
        TypeError: ``n`` not an int.
        ValueError: ``n`` negative; ``formats`` empty or with a bad format.
    """
    require_int("n", n, minimum=0)
    if not formats:
        raise ValueError("formats is empty")
    rng = random.Random(seed)
    days = (LAST_DATE - FIRST_DATE).days
    pairs, spans, used = [], [], []
    for _ in range(n):
        date = FIRST_DATE + dt.timedelta(days=rng.randint(0, days))
        fmt = rng.choice(list(formats))
        text, where = format_date(date, fmt)
        pairs.append((list(text), list(date.isoformat())))
        spans.append(where)
        used.append(fmt)
    return DateTask(pairs, Vocab(list(SOURCE_CHARS)), Vocab(list(TARGET_CHARS)), spans, used)
