"""Time handling: epoch seconds inside, RFC 3339 with an explicit offset outside.

Formatting and parsing are vectorised: UTC offsets are looked up once per hour of the range
covered (so daylight-saving changes are exact) and applied to whole arrays.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np

from data_generator.errors import ConfigError

HOUR = 3600
DAY = 86400


def zone(name: str, where: str = "config") -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(where, "unknown time zone", found=name,
                          hint="use an IANA name such as 'UTC' or 'America/New_York'") from None


def local_midnight(date: dt.date, tz: ZoneInfo) -> int:
    """Epoch seconds of 00:00 local time on `date`."""
    return int(dt.datetime(date.year, date.month, date.day, tzinfo=tz).timestamp())


def utc_offsets(epoch: np.ndarray, tz: ZoneInfo) -> np.ndarray:
    """UTC offset in seconds for each epoch second (exact across DST changes)."""
    epoch = np.asarray(epoch, dtype=np.int64)
    if epoch.size == 0:
        return np.zeros(0, dtype=np.int64)
    lo, hi = int(epoch.min()) // HOUR, int(epoch.max()) // HOUR + 1
    if hi - lo > 24 * 400:  # a span this wide is not one batch: look each value up
        return np.array([dt.datetime.fromtimestamp(int(e), tz).utcoffset().total_seconds()
                         for e in epoch], dtype=np.int64)
    hours = np.arange(lo, hi + 1, dtype=np.int64)
    table = np.array(
        [dt.datetime.fromtimestamp(h * HOUR, tz).utcoffset().total_seconds() for h in hours],
        dtype=np.int64,
    )
    # Offsets change on the hour in every zone in use since 1970 except a few half-hour ones;
    # checking the offset at the exact second keeps those right too.
    off = table[epoch // HOUR - lo]
    changes = np.flatnonzero(np.diff(table)) + 1
    if changes.size:
        near = np.isin(epoch // HOUR - lo, np.concatenate([changes - 1, changes]))
        for i in np.flatnonzero(near):
            off[i] = dt.datetime.fromtimestamp(int(epoch[i]), tz).utcoffset().total_seconds()
    return off


def _offset_text(off: np.ndarray) -> np.ndarray:
    sign = np.where(off < 0, "-", "+")
    a = np.abs(off)
    hh = np.strings.zfill((a // HOUR).astype(str), 2)
    mm = np.strings.zfill(((a % HOUR) // 60).astype(str), 2)
    return np.strings.add(np.strings.add(np.strings.add(sign, hh), ":"), mm)


def format_rfc3339(epoch: np.ndarray, tz: ZoneInfo) -> np.ndarray:
    """'2026-01-15T08:23:00-05:00' for each epoch second."""
    epoch = np.asarray(epoch, dtype=np.int64)
    off = utc_offsets(epoch, tz)
    local = (epoch + off).astype("datetime64[s]")
    return np.strings.add(np.datetime_as_string(local, unit="s"), _offset_text(off))


def parse_rfc3339(text: np.ndarray) -> np.ndarray:
    """Epoch seconds for strings already checked to match YYYY-MM-DDTHH:MM:SS±HH:MM or ...Z."""
    text = np.asarray(text, dtype=str)
    base = np.strings.slice(text, 0, 19).astype("datetime64[s]").astype(np.int64)
    tail = np.strings.slice(text, 19, None)
    zulu = (tail == "Z") | (tail == "z")
    tail = np.where(zulu, "+00:00", tail)
    sign = np.where(np.strings.slice(tail, 0, 1) == "-", -1, 1)
    hh = np.strings.slice(tail, 1, 3).astype(np.int64)
    mm = np.strings.slice(tail, 4, 6).astype(np.int64)
    return base - sign * (hh * HOUR + mm * 60)


def local_hour(epoch: np.ndarray, tz: ZoneInfo) -> np.ndarray:
    """Local clock time in fractional hours [0, 24) for each epoch second."""
    epoch = np.asarray(epoch, dtype=np.int64)
    return ((epoch + utc_offsets(epoch, tz)) % DAY) / HOUR


def format_date(days: np.ndarray) -> np.ndarray:
    """'YYYY-MM-DD' for each value of a datetime64[D] array."""
    return np.datetime_as_string(np.asarray(days, dtype="datetime64[D]"), unit="D")
