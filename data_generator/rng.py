"""The one RNG factory: independent numpy streams keyed by seed, date and purpose.

Every stream comes from one `SeedSequence` whose entropy is the run seed and whose spawn key
is derived from the stream's name (a date, a table, a patient number...). Editing how notes
are written therefore cannot change a single vitals value, and a patient's identity depends
only on the seed and the patient's number.

`uniforms` serves draws that must be reachable by address rather than in sequence (the stay
number or day of one patient's timeline, out of tens of thousands): each value is a hash of
the seed, the stream's name and its integer indices, so any one costs the same to compute.
"""

from __future__ import annotations

import hashlib
import math
from functools import cache

import numpy as np


@cache
def _key(part: object) -> int:
    digest = hashlib.blake2b(str(part).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little")


def stream(seed: int, *parts: object) -> np.random.Generator:
    """A generator for the stream named by `parts`, e.g. `stream(seed, "2026-01-15", "vitals")`."""
    seq = np.random.SeedSequence(entropy=seed, spawn_key=tuple(_key(p) for p in parts))
    return np.random.Generator(np.random.PCG64(seq))


def int_seed(seed: int, *parts: object) -> int:
    """A 63-bit integer seed for libraries that take one (Faker's `seed_instance`)."""
    return int(stream(seed, *parts).integers(0, 2**63 - 1))


_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1, _M2 = np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB)
_TABLE_MIN = 4096  # index elements from which a lookup table of mixed values can pay
_CHUNK = 1 << 16   # hashes computed together at most (arrays that stay in the CPU's cache)


def _mix(x: np.ndarray) -> np.ndarray:
    """SplitMix64's finaliser, in place on the uint64 array `x` (returned): a bijection of 64-bit
    words that spreads every input bit."""
    shifted = np.empty_like(x)
    np.right_shift(x, 30, out=shifted)
    x ^= shifted
    x *= _M1
    np.right_shift(x, 27, out=shifted)
    x ^= shifted
    x *= _M2
    np.right_shift(x, 31, out=shifted)
    x ^= shifted
    return x


def _mixed_index(i: np.ndarray | int) -> np.ndarray:
    """`_mix(i + golden ratio)` of an integer index array; an array of many elements but few
    distinct values (days after discharge, per patient) is mixed once per value and looked up."""
    i = np.asarray(i, dtype=np.int64)
    if i.size >= _TABLE_MIN:
        low, high = int(i.min()), int(i.max())
        if high - low < i.size // 8:
            table = _mix(np.arange(low, high + 1, dtype=np.int64).astype(np.uint64) + _GOLDEN)
            return table[i - low]
    return _mix(i.astype(np.uint64) + _GOLDEN)


def uniforms(seed: int, name: str, *index: np.ndarray | int) -> np.ndarray:
    """Uniforms in [0, 1), one per element of the broadcast integer `index` arrays, each a function of
    (seed, name, indices) alone, e.g. `uniforms(seed, "readmit", patients, days)`."""
    key = _key((seed, name))
    shape = np.broadcast_shapes(*(np.shape(i) for i in index))
    size = math.prod(shape)
    if size <= _CHUNK:
        return _hashed(key, index)
    # in slices along the first axis, each small enough for the CPU's cache
    index = [np.reshape(i, (1,) * (len(shape) - np.ndim(i)) + np.shape(i)) for i in index]
    step = max(1, _CHUNK * shape[0] // size)
    out = np.empty(shape)
    for start in range(0, shape[0], step):
        out[start:start + step] = _hashed(key, [i if len(i) == 1 else i[start:start + step] for i in index])
    return out


def _hashed(key: int, index) -> np.ndarray:
    """`uniforms` for the stream whose name hashes to `key`: h = mix(h + mix(i + golden)) for each
    index in turn, broadcast as they come; its top 53 bits as a fraction."""
    h = np.full((), key, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for i in index:
            h = _mix(np.add(h, _mixed_index(i)))
    h >>= np.uint64(11)
    out = h.astype(np.float64)
    out *= 2.0**-53
    return out
