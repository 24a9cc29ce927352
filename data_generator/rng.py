"""The one RNG factory: independent numpy streams keyed by seed, date and purpose.

Every stream comes from one `SeedSequence` whose entropy is the run seed and whose spawn key
is derived from the stream's name (a date, a table, a patient number...). Editing how notes
are written therefore cannot change a single vitals value, and a patient's identity depends
only on the seed and the patient's number.
"""

from __future__ import annotations

import hashlib

import numpy as np


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
