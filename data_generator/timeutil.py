"""Time handling: epoch seconds inside, RFC 3339 with an explicit offset outside.

Formatting and parsing are vectorised: UTC offsets are looked up once per hour of the range
covered (so daylight-saving changes are exact) and applied to whole arrays.
"""

from __future__ import annotations

import datetime as dt
import functools
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from data_generator.errors import ConfigError

HOUR = 3600
DAY = 86400
_BLOCK_HOURS = 1024  # hours of UTC offsets looked up together (and kept) per zone


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
    table = _offsets_by_hour(tz, lo, hi)
    # Offsets change on the hour in every zone in use since 1970 except a few half-hour ones;
    # checking the offset at the exact second keeps those right too.
    off = table[epoch // HOUR - lo]
    changes = np.flatnonzero(np.diff(table)) + 1
    if changes.size:
        near = np.isin(epoch // HOUR - lo, np.concatenate([changes - 1, changes]))
        for i in np.flatnonzero(near):
            off[i] = dt.datetime.fromtimestamp(int(epoch[i]), tz).utcoffset().total_seconds()
    return off


def _offsets_by_hour(tz: ZoneInfo, lo: int, hi: int) -> np.ndarray:
    """The UTC offset in seconds at each hour from `lo` to `hi` (hours since the epoch)."""
    first = lo // _BLOCK_HOURS
    try:
        blocks = [_hourly_offsets(tz, block) for block in range(first, hi // _BLOCK_HOURS + 1)]
    except (OverflowError, ValueError, OSError):  # a block reaching past the years datetime has
        return np.array([dt.datetime.fromtimestamp(h * HOUR, tz).utcoffset().total_seconds()
                         for h in range(lo, hi + 1)], dtype=np.int64)
    return np.concatenate(blocks)[lo - first * _BLOCK_HOURS:hi - first * _BLOCK_HOURS + 1]


@functools.lru_cache(maxsize=4096)
def _hourly_offsets(tz: ZoneInfo, block: int) -> np.ndarray:
    """The UTC offset in seconds at each hour of a block of hours since the epoch (hours
    `block` * _BLOCK_HOURS onwards), looked up once per zone and block."""
    hours = range(block * _BLOCK_HOURS, (block + 1) * _BLOCK_HOURS)
    offsets = np.array([dt.datetime.fromtimestamp(h * HOUR, tz).utcoffset().total_seconds() for h in hours],
                       dtype=np.int64)
    offsets.flags.writeable = False
    return offsets


def _offset_text(seconds: int) -> str:
    sign = "-" if seconds < 0 else "+"
    return f"{sign}{abs(seconds) // HOUR:02d}:{abs(seconds) % HOUR // 60:02d}"


def rfc3339_parts(epoch: np.ndarray, tz: ZoneInfo) -> tuple[np.ndarray, list[str], np.ndarray]:
    """The pieces of RFC 3339 text: the local clock time of each value (epoch seconds plus its
    offset, to print as 'YYYY-MM-DDTHH:MM:SS'), the distinct offsets' text ('-05:00'; a day has
    one or two), and which offset each value has."""
    epoch = np.asarray(epoch, dtype=np.int64)
    off = utc_offsets(epoch, tz)
    if len(off) and (off == off[0]).all():  # one offset (no daylight-saving change): no sort
        offsets, which = off[:1], np.zeros(len(off), dtype=np.intp)
    else:
        offsets, which = np.unique(off, return_inverse=True)
    return epoch + off, [_offset_text(int(o)) for o in offsets.tolist()], which.reshape(-1)


def format_rfc3339(epoch: np.ndarray, tz: ZoneInfo) -> np.ndarray:
    """'2026-01-15T08:23:00-05:00' for each epoch second."""
    local, tails, which = rfc3339_parts(epoch, tz)
    clock = np.datetime_as_string(local.astype("datetime64[s]"), unit="s")
    return np.strings.add(clock, np.array(tails, dtype="<U6")[which])


def parse_rfc3339(text: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """Epoch seconds of RFC 3339 strings, and which ones parsed.

    pyarrow's strptime handles the explicit-offset form the contracts require, exactly and in
    bulk; the other forms RFC 3339 allows (Z, fractions of a second) go through the standard
    library one by one; a leap second does not parse.
    """
    text = pa.array(text, pa.string()) if not isinstance(text, pa.Array) else text
    parsed = pc.strptime(text, format="%Y-%m-%dT%H:%M:%S%z", unit="s", error_is_null=True)
    epochs = pc.fill_null(pc.cast(parsed, pa.int64()), 0).to_numpy(zero_copy_only=False).copy()
    ok = parsed.is_valid().to_numpy(zero_copy_only=False).copy()
    ok &= ~pc.fill_null(pc.equal(pc.utf8_slice_codeunits(text, 17, 19), "60"), True).to_numpy(zero_copy_only=False)
    for i in np.flatnonzero(~ok & text.is_valid().to_numpy(zero_copy_only=False)).tolist():
        try:
            epochs[i] = int(dt.datetime.fromisoformat(text[i].as_py()).timestamp())
            ok[i] = True
        except ValueError:
            pass
    return epochs, ok


def local_hour(epoch: np.ndarray, tz: ZoneInfo) -> np.ndarray:
    """Local clock time in fractional hours [0, 24) for each epoch second."""
    epoch = np.asarray(epoch, dtype=np.int64)
    return ((epoch + utc_offsets(epoch, tz)) % DAY) / HOUR


def format_date(days: np.ndarray) -> np.ndarray:
    """'YYYY-MM-DD' for each value of a datetime64[D] array."""
    return np.datetime_as_string(np.asarray(days, dtype="datetime64[D]"), unit="D")
