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


def _mix(x: np.ndarray) -> np.ndarray:
    """SplitMix64's finaliser: a bijection of 64-bit words that spreads every input bit."""
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def uniforms(seed: int, name: str, *index: np.ndarray | int) -> np.ndarray:
    """Uniforms in [0, 1), one per element of the broadcast integer `index` arrays, each a function of
    (seed, name, indices) alone, e.g. `uniforms(seed, "readmit", patients, days)`."""
    with np.errstate(over="ignore"):
        h = np.full(np.broadcast_shapes(*(np.shape(i) for i in index)), _key((seed, name)), dtype=np.uint64)
        for i in index:
            h = _mix(h + _mix(np.asarray(i, dtype=np.int64).astype(np.uint64) + _GOLDEN))
    return (h >> np.uint64(11)).astype(np.float64) * 2.0**-53
