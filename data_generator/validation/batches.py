"""The shape validation works on: a batch of rows of one file, its columns (each distinct cell
once, typed as the contract says), and what is kept of a whole file for the rules that span
batches and files."""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass, field
from functools import cache

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from data_generator.contracts import column_type
from data_generator.timeutil import parse_rfc3339

_INTEGER = r"^[+-]?[0-9]{1,18}$"
_NUMBER = r"^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]{1,3})?$"


@dataclass
class Column:
    """One column of a batch: each distinct cell once (typed), and each row's position in it.

    Checks run on the distinct values (a column of a million rows holds a few hundred distinct
    heart rates) and map back to rows through `index`; a JSONL column holding values other
    than strings keeps each row's JSON value (not deduplicated). A column of unique IDs or times
    is first checked vectorised on `text`; it is deduplicated only if some value needs a closer
    look (`distinct` and `index` are built on first use), or when it holds keys of another file.
    """

    text: pa.Array  # per row: the cell as text, null when missing or not a string
    prop: dict
    _distinct: list | None = None  # typed distinct values (ints, floats, strings, None, bad text)
    _index: np.ndarray | None = None  # per row: position in `distinct`
    _bad: np.ndarray | None = None  # per distinct value: failed a column or conditional check
    _words: pa.Array | None = None  # distinct values as text (for timestamps)
    _seconds: np.ndarray | None = None  # distinct epochs, when read typed (Parquet)
    _epochs: tuple | None = None
    _times: tuple | None = None  # per row: epochs and whether the text is a plain valid time
    _word_times: tuple | None = None  # the same per distinct value
    _from_text: bool = False  # deduplicated from `text`: `words` are the distinct cells
    _integers: tuple | None = None  # (plain_integers of `text`,), once read

    def _encode(self) -> None:
        encoded = pc.dictionary_encode(self.text, null_encoding="encode")
        self._words = encoded.dictionary
        self._index = encoded.indices.to_numpy(zero_copy_only=False)
        self._bad = np.zeros(len(self._words), dtype=bool)
        self._from_text = True

    def deduplicate(self) -> None:
        """Build `words` and `index` now (a column of repeated keys is checked per key)."""
        if self._index is None:
            self._encode()

    @property
    def encoded(self) -> bool:
        """Whether `index` is built (a column of unique IDs may never need it)."""
        return self._index is not None

    @property
    def from_text(self) -> bool:
        """Whether `words` holds each distinct cell's text (a column deduplicated from `text`),
        so that a check of `words` is a check of every row."""
        return self._from_text

    @property
    def words(self) -> pa.Array:
        """The distinct values as the file prints them (null for a missing one; JSON values
        that are not strings are null too)."""
        if self._index is None:  # a column of text: its words are its distinct cells
            self._encode()
        if self._words is None:
            self._words = pa.array([v if isinstance(v, str) else None for v in self.distinct],
                                   type=pa.string())
        return self._words

    @property
    def count(self) -> int:
        """How many distinct values the column holds."""
        return len(self.bad)

    @property
    def distinct(self) -> list:
        if self._index is None:
            self._encode()
        if self._distinct is None:  # typed from the words on first use
            self._distinct = typed_values(self._words, self.prop)
        return self._distinct

    @property
    def index(self) -> np.ndarray:
        if self._index is None:
            self._encode()
        return self._index

    @property
    def bad(self) -> np.ndarray:
        if self._bad is None:
            self._encode()
        return self._bad

    def times(self) -> tuple[np.ndarray, np.ndarray]:
        """Per row: epoch seconds, and whether the text is a valid time in the contracts' form
        (see `plain_times`)."""
        if self._times is None:
            self._times = plain_times(self.text)
        return self._times

    def integers(self) -> tuple[np.ndarray, np.ndarray] | None:
        """Per row: the value of a cell of plain digits and whether it is one (see
        `plain_integers`); None if some cell holds another character."""
        if self._integers is None:
            self._integers = (plain_integers(self.text),)
        return self._integers[0]

    def word_times(self) -> tuple[np.ndarray, np.ndarray]:
        """`times` of the distinct values (`words`)."""
        if self._word_times is None:
            self._word_times = plain_times(self.words)
        return self._word_times

    def usable(self) -> np.ndarray:
        """Per row: present and passed its checks."""
        if self._index is None:  # never deduplicated: every present value passed
            return self.text.is_valid().to_numpy(zero_copy_only=False)
        if self._from_text:
            present = self._words.is_valid().to_numpy(zero_copy_only=False)
        else:
            present = np.array([v is not None for v in self.distinct], dtype=bool)
        return (present & ~self.bad)[self.index]


@dataclass
class Batch:
    """One batch of rows of a file, with its rows' line numbers."""

    name: str
    file: str
    schema: dict
    lines: np.ndarray
    cols: dict[str, Column] = field(default_factory=dict)

    @property
    def n(self) -> int:
        return len(self.lines)

    def has(self, col: str) -> bool:
        return col in self.cols

    def text(self, col: str) -> pa.Array:
        return self.cols[col].text

    def usable(self, col: str) -> np.ndarray:
        return self.cols[col].usable()

    def epochs(self, col: str) -> tuple[np.ndarray, np.ndarray]:
        return column_epochs(self, col)


class Lines:
    """A file's line numbers per row, kept as runs: a batch whose rows are on consecutive
    lines (every batch of a file without line breaks inside cells) costs two integers."""

    def __init__(self) -> None:
        self._starts: list[int] = [0]  # row index where each batch begins
        self._first: list[int] = []  # its first line
        self._explicit: dict[int, np.ndarray] = {}  # batch -> its lines, when not consecutive

    def add(self, lines: np.ndarray) -> None:
        k, n = len(self._first), len(lines)
        self._first.append(int(lines[0]) if n else 0)
        if n and int(lines[-1]) - int(lines[0]) != n - 1:
            self._explicit[k] = lines
        self._starts.append(self._starts[-1] + n)

    def extend(self, other: Lines, shift: int) -> None:
        """Append another file part's lines, each moved on by `shift`."""
        for k, first in enumerate(other._first):
            base, n = len(self._first), other._starts[k + 1] - other._starts[k]
            self._first.append(first + shift)
            if k in other._explicit:
                self._explicit[base] = other._explicit[k] + shift
            self._starts.append(self._starts[-1] + n)

    def __len__(self) -> int:
        return self._starts[-1]

    def __getitem__(self, i) -> int:
        i = int(i)
        k = bisect.bisect_right(self._starts, i) - 1
        at = i - self._starts[k]
        return int(self._explicit[k][at]) if k in self._explicit else self._first[k] + at


@dataclass
class Kept:
    """What cross-row rules need of a whole file once its batches are checked: line numbers,
    and per kept column its text, usable mask, (date-time columns) epochs and (the primary key)
    a 64-bit digest per row, so that uniqueness is a sort of integers."""

    name: str
    file: str
    schema: dict
    keep: set[str]
    _text: dict = field(default_factory=dict)
    _usable: dict = field(default_factory=dict)
    _epochs: dict = field(default_factory=dict)
    _digest: list = field(default_factory=list)
    lines: Lines = field(default_factory=Lines)
    digest: np.ndarray | None = None
    _keys: dict = field(default_factory=dict)  # fields -> their distinct keys, once finished

    def add(self, batch: Batch) -> None:
        self.lines.add(batch.lines)
        key = self.schema.get("x-primaryKey")
        for col in self.keep & set(batch.cols):
            self._text.setdefault(col, []).append(batch.text(col))
            self._usable.setdefault(col, []).append(batch.usable(col))
            if column_type(self.schema["properties"][col]) == "date-time":
                self._epochs.setdefault(col, []).append(batch.epochs(col))
            if col == key:
                self._digest.append(text_digest(batch.text(col)))

    def extend(self, other: Kept, shift: int) -> None:
        """Append what is kept of another part of the file (not yet finished), its line numbers
        moved on by `shift`."""
        self.lines.extend(other.lines, shift)
        for mine, theirs in ((self._text, other._text), (self._usable, other._usable),
                             (self._epochs, other._epochs)):
            for col, pieces in theirs.items():
                mine.setdefault(col, []).extend(pieces)
        self._digest.extend(other._digest)

    def finish(self) -> Kept:
        self._text = {c: pa.concat_arrays(v) for c, v in self._text.items()}
        self._usable = {c: np.concatenate(v) for c, v in self._usable.items()}
        self._epochs = {c: tuple(np.concatenate(x) for x in zip(*v, strict=True))
                        for c, v in self._epochs.items()}
        self.digest = np.concatenate(self._digest) if self._digest else np.zeros(0, np.uint64)
        self._digest = []
        return self

    @property
    def n(self) -> int:
        return len(self.lines)

    def has(self, col: str) -> bool:
        return col in self._text or (self.n == 0 and col in self.keep)

    def text(self, col: str) -> pa.Array:
        return self._text.get(col, pa.array([], pa.string()))

    def keys(self, fields: tuple[str, ...], key) -> pa.Array:
        """The distinct values of `key(self, fields)`, computed once per fields."""
        if fields not in self._keys:
            self._keys[fields] = key(self, list(fields)).unique()
        return self._keys[fields]

    def usable(self, col: str) -> np.ndarray:
        return self._usable.get(col, np.zeros(0, dtype=bool))

    def epochs(self, col: str) -> tuple[np.ndarray, np.ndarray]:
        return self._epochs.get(col, (np.zeros(0, np.int64), np.zeros(0, dtype=bool)))


def text_digest(text: pa.Array) -> np.ndarray:
    """A 64-bit digest of each string's UTF-8 bytes (0 for null), vectorised over the strings of
    each length, eight bytes at a time: equal strings always have equal digests."""
    text = pc.cast(text, pa.string())
    out = np.zeros(len(text), dtype=np.uint64)
    if len(text) == 0 or text.null_count == len(text):
        return out
    offsets = np.frombuffer(text.buffers()[1], dtype=np.int32)[text.offset:text.offset + len(text) + 1]
    data = np.frombuffer(text.buffers()[2], dtype=np.uint8) if text.buffers()[2] is not None \
        else np.zeros(0, np.uint8)
    lengths = np.diff(offsets)
    valid = text.is_valid().to_numpy(zero_copy_only=False)
    present = lengths[valid]
    sizes = [int(present[0])] if present.min() == present.max() else np.unique(present).tolist()
    with np.errstate(over="ignore"):
        for size in sizes:
            rows, chars = _same_length(data, offsets, valid, lengths, size)
            padded = np.zeros((rows.size, max(-(-size // 8), 1) * 8), dtype=np.uint8)
            padded[:, :size] = chars
            words = padded.view(np.uint64)
            h = np.full(rows.size, _FNV_OFFSET ^ np.uint64(size), dtype=np.uint64)
            for j in range(words.shape[1]):
                h = (h ^ words[:, j]) * _FNV_PRIME
                h ^= h >> np.uint64(29)
            out[rows] = h
    return out


def _same_length(data: np.ndarray, offsets: np.ndarray, valid: np.ndarray, lengths: np.ndarray,
                 size: int) -> tuple[np.ndarray, np.ndarray]:
    """The rows of a string array whose strings are `size` bytes long, and their bytes as a
    (rows, size) matrix: a view of the data when every string is (IDs, timestamps)."""
    if valid.all() and (lengths == size).all():
        start = int(offsets[0])
        return np.arange(len(lengths)), data[start:start + size * len(lengths)].reshape(len(lengths), size)
    rows = np.flatnonzero(valid & (lengths == size))
    return rows, data[offsets[rows, None].astype(np.int64) + np.arange(size)]


_FNV_OFFSET, _FNV_PRIME = np.uint64(0xCBF29CE484222325), np.uint64(0x100000001B3)


class Unreadable(Exception):
    """A file stopped being readable part-way (already reported)."""


def typed_values(words: pa.Array, prop: dict) -> list:
    """CSV text to the schema's type; text that does not parse stays text (a 'type' error)."""
    kind = column_type(prop)
    if kind not in ("integer", "number"):
        return words.to_pylist()
    parses = pc.fill_null(pc.match_substring_regex(words, _INTEGER if kind == "integer"
                                                   else _NUMBER), True)
    numbers = pc.if_else(parses, words, pa.scalar(None, pa.string()))
    if kind == "integer":  # a leading plus sign, which pyarrow's integer cast refuses
        numbers = pc.replace_substring_regex(numbers, r"^\+", "")
    typed = pc.cast(numbers, pa.int64() if kind == "integer" else pa.float64())
    values = typed.to_pylist()
    for i in np.flatnonzero(~parses.to_numpy(zero_copy_only=False)):
        values[i] = words[int(i)].as_py()
    return values


def column_epochs(table: Batch, col: str) -> tuple[np.ndarray, np.ndarray]:
    """Epoch seconds of a date-time column and the mask of rows where it is usable."""
    column = table.cols[col]
    if not column.encoded:  # never deduplicated: every present value passed, parse each row
        epochs, ok = column.times()
        rest = np.flatnonzero(~ok & column.text.is_valid().to_numpy(zero_copy_only=False))
        if rest.size:  # other RFC 3339 forms (Z, fractions of a second)
            epochs, ok = epochs.copy(), ok.copy()
            epochs[rest], ok[rest] = parse_rfc3339(column.text.take(pa.array(rest)))
        return epochs, ok
    if column._epochs is None:
        if column._words is not None:
            good = column._words.is_valid().to_numpy(zero_copy_only=False) & ~column.bad
        else:
            good = np.array([isinstance(v, str) for v in column.distinct], dtype=bool) & ~column.bad
        if column._seconds is not None:  # read typed: no parsing
            epochs, ok = column._seconds, good
        else:
            epochs, ok = column.word_times()
            epochs, ok = epochs.copy(), ok & good
            rest = np.flatnonzero(good & ~ok)
            if rest.size:  # other RFC 3339 forms (Z, fractions of a second)
                words = pc.cast(column.words, pa.string()).take(pa.array(rest))
                epochs[rest], ok[rest] = parse_rfc3339(words)
        column._epochs = (epochs, ok)
    epochs, ok = column._epochs
    return epochs[column.index], ok[column.index]


_TIME_FORM = "0000-00-00T00:00:00+00:00"  # the contracts' date-time form: explicit offset
TIME_PATTERN = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}[+-][0-9]{2}:[0-9]{2}$"  # its regex
_TIME_DIGITS = np.array([i for i, c in enumerate(_TIME_FORM) if c == "0"])
_TIME_MARKS = np.array([i for i, c in enumerate(_TIME_FORM) if c not in "0+"])
_MARKS = np.frombuffer(_TIME_FORM.encode(), np.uint8)[_TIME_MARKS]


_PATTERN_PART = re.compile(r"\[0-9\](?:\{([0-9]+)(,([0-9]*))?\})?|\\([^0-9A-Za-z])|([0-9A-Za-z_ -])")


@cache
def _pattern_parts(pattern: str) -> tuple | None:
    """An anchored pattern made only of literal characters and `[0-9]{m}`, `[0-9]{m,}` or
    `[0-9]{m,n}` runs, at most one of them of varying width, as (lowest, highest) byte per
    part and each part's (least, most) width; None for any other pattern."""
    if not (pattern.startswith("^") and pattern.endswith("$")):
        return None
    parts, at, body = [], 0, pattern[1:-1]
    while at < len(body):
        m = _PATTERN_PART.match(body, at)
        if m is None:
            return None
        if m.group(0).startswith("[0-9]"):
            least = int(m.group(1) or 1)
            most = least if m.group(2) is None else int(m.group(3)) if m.group(3) else None
            if most is not None and most < least:
                return None
            parts.append((ord("0"), ord("9"), least, most))
        else:
            char = ord(m.group(4) or m.group(5))
            parts.append((char, char, 1, 1))
        at = m.end()
    if sum(1 for part in parts if part[2] != part[3]) > 1:
        return None
    return tuple(parts)


def _layout(parts: tuple, size: int) -> tuple[np.ndarray, np.ndarray] | None:
    """Per byte of a `size`-byte string: lowest byte allowed and how far above it a byte may be;
    None if no string of that size can match."""
    fixed = sum(least for _, _, least, most in parts if least == most)
    low, span = [], []
    for first, last, least, most in parts:
        width = least if least == most else size - fixed
        if width < least or (most is not None and width > most):
            return None
        low += [first] * width
        span += [last - first] * width
    if len(low) != size:
        return None
    return np.array(low, np.uint8), np.array(span, np.uint8)


def fixed_match(text: pa.Array, pattern: str) -> np.ndarray | None:
    """Per row: whether the string matches `pattern`, read from the strings' bytes when they
    are all of one length (IDs) and the pattern is literal characters and runs of digits; None
    otherwise."""
    parts = _pattern_parts(pattern)
    n = len(text)
    if parts is None or n == 0:
        return None
    text = pc.cast(text, pa.string())
    offsets = np.frombuffer(text.buffers()[1], dtype=np.int32)[text.offset:text.offset + n + 1]
    lengths = np.diff(offsets)
    valid = text.is_valid().to_numpy(zero_copy_only=False)
    present = lengths[valid]
    if not present.size or present.min() != present.max():
        return None
    size = int(present[0])
    layout = _layout(parts, size)
    ok = np.zeros(n, dtype=bool)
    if layout is None or size == 0:
        return ok
    rows, chars = _same_length(np.frombuffer(text.buffers()[2], dtype=np.uint8), offsets, valid,
                               lengths, size)
    good = np.ones(rows.size, dtype=bool)
    for at, (low, span) in enumerate(zip(*layout, strict=True)):  # byte by byte down the rows
        good &= (chars[:, at] - low) <= span  # a byte below the lowest wraps round to a high one
    ok[rows] = good
    return ok


def plain_integers(text: pa.Array) -> tuple[np.ndarray, np.ndarray] | None:
    """Per row: the value of a cell of 1 to 15 digits (its typed value, see `typed_values`), and
    whether the cell is one (null and empty cells are not, nor longer runs of digits, whose
    values a float may not hold exactly); None if any cell holds another character (a sign, a
    point: each such value is typed on its own). Read from the strings' bytes."""
    text = pc.cast(text, pa.string())
    n = len(text)
    offsets = np.frombuffer(text.buffers()[1], dtype=np.int32)[text.offset:text.offset + n + 1]
    data = np.frombuffer(text.buffers()[2], dtype=np.uint8)[offsets[0]:offsets[-1]] \
        if text.buffers()[2] is not None else np.zeros(0, np.uint8)
    if ((data - np.uint8(ord("0"))) > 9).any():  # a byte below "0" wraps round to a high one
        return None
    lengths = np.diff(offsets)
    valid = text.is_valid().to_numpy(zero_copy_only=False)
    ok = valid & (lengths >= 1) & (lengths <= 15)
    values = np.zeros(n, dtype=np.int64)
    if (ok == valid).all():  # every present cell is plain digits: cast them all
        values = pc.fill_null(pc.cast(text, pa.int64()), 0).to_numpy(zero_copy_only=False)
    elif ok.any():
        values[ok] = pc.cast(text.filter(pa.array(ok)), pa.int64()).to_numpy(zero_copy_only=False)
    return values, ok


@cache
def _months() -> tuple[np.ndarray, np.ndarray]:
    """For each month from 0000-01 to 9999-12: the days from 1970-01-01 to its first day, and
    its length in days (numpy's proleptic Gregorian calendar)."""
    firsts = (np.arange(10000 * 12 + 1) - 1970 * 12).astype("datetime64[M]").astype("datetime64[D]")
    firsts = firsts.astype(np.int64)
    return firsts[:-1], np.diff(firsts)


def plain_times(text: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """Epoch seconds of 'YYYY-MM-DDTHH:MM:SS+hh:mm' strings, and per row whether it is one with
    every field in range (a real date, hours to 23, minutes and seconds to 59, offset to 23:59),
    so a valid RFC 3339 date-time. Other rows (leap seconds, Z, fractions, damage) are not; the
    epochs of those are 0. Read from the strings' bytes, vectorised."""
    text = pc.cast(text, pa.string())
    n, width = len(text), len(_TIME_FORM)
    epochs, ok = np.zeros(n, dtype=np.int64), np.zeros(n, dtype=bool)
    if n == 0 or text.null_count == n:
        return epochs, ok
    offsets = np.frombuffer(text.buffers()[1], dtype=np.int32)[text.offset:text.offset + n + 1]
    data = np.frombuffer(text.buffers()[2], dtype=np.uint8) if text.buffers()[2] is not None \
        else np.zeros(0, np.uint8)
    rows, chars = _same_length(data, offsets, text.is_valid().to_numpy(zero_copy_only=False),
                               np.diff(offsets), width)
    sign = chars[:, 19]
    form = (sign == ord("+")) | (sign == ord("-"))
    for at in _TIME_DIGITS.tolist():  # byte by byte down the rows
        form &= (chars[:, at] - np.uint8(ord("0"))) <= 9
    for at, mark in zip(_TIME_MARKS.tolist(), _MARKS.tolist(), strict=True):
        form &= chars[:, at] == mark

    def two(at: int) -> np.ndarray:  # the two digits at `at` as a number
        return chars[:, at].astype(np.int32) * 10 + chars[:, at + 1] - 11 * ord("0")

    year = two(0) * 100 + two(2)
    month, day, hour, minute, second, off_hour, off_minute = \
        (two(at) for at in (5, 8, 11, 14, 17, 20, 23))
    month_ok = (month >= 1) & (month <= 12)
    starts, lengths = _months()
    months = np.where(form & month_ok, year * 12 + month - 1, 0)  # digits: year 0000 to 9999
    first, length = starts[months], lengths[months]
    form &= month_ok & (day >= 1) & (day <= length) & (hour <= 23) & (minute <= 59) \
        & (second <= 59) & (off_hour <= 23) & (off_minute <= 59)
    shift = np.where(sign == ord("-"), -1, 1) * (off_hour * 3600 + off_minute * 60)
    seconds = (first + day - 1) * 86400 + (hour * 3600 + minute * 60 + second - shift)
    epochs[rows[form]] = seconds[form]
    ok[rows[form]] = True
    return epochs, ok
