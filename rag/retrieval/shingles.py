"""Character 5-shingles of a passage, and a 128-byte MinHash sketch of them stored with each chunk.

GROUP_DUPLICATES (rag/retrieval/duplicates.py) compares a question's chosen passages with every other candidate:
reading ~160 candidates' text and comparing it took 8-14 ms of a 27 ms retrieval at 100k chunks. The
sketch, made once at ingest, lets retrieval rule out almost every pair without reading any text, and
grouping then compares texts exactly as before, only for the pairs the sketches cannot rule out.

The sketch is MinHash (Broder 1997): for each of `SKETCH_HASHES` (64) hash functions, the smallest hash
over the passage's shingles. Two passages agree at one position with probability equal to their
resemblance J (Jaccard of the shingle sets), so the number of agreeing positions is Binomial(64, J).
Stored are the low 16 bits of each minimum (b-bit MinHash: a false agreement adds 1/65536 to J).
A pair is ruled out only when fewer than `MIN_AGREEING` (22 of 64, J ≈ 0.34) positions agree: a pair
at the grouping threshold J = 0.7 falls below that with probability 1e-9; unrelated passages (J ≈ 0.1)
pass it with probability 1e-7, and then cost one exact comparison.

The hashes are fixed (seeded splitmix64 on a polynomial hash of the code points, uint64 arithmetic),
so a sketch means the same on every machine and in every process; changing them needs
`SKETCH_VERSION` raised (old sketches are then ignored, not trusted).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from rag.language.textnorm import normalize

if TYPE_CHECKING:
    import numpy as np

SHINGLE_CHARS = 5
SKETCH_HASHES = 64
SKETCH_BYTES = 2 * SKETCH_HASHES  # uint16 each
MIN_AGREEING = 22  # of SKETCH_HASHES: below this, the pair's resemblance is certainly under NEAR_DUPLICATE (0.7)
SKETCH_VERSION = "minhash64x16-v1"
SKETCH_COLUMN = "shingle_sketch"  # the chunks table's column; its schema metadata records SKETCH_VERSION
_NOT_ALNUM = re.compile(r"[\W_]+")
_NOT_ALNUM_ASCII = re.compile(r"[^0-9a-z]+")
_MASK64 = (1 << 64) - 1


def plain_text(text: str) -> str:
    """`text` normalised (rag.language.textnorm), lower-cased, letters and digits only: what shingles are cut from."""
    if text.isascii():  # nothing to normalise; the narrower pattern is faster
        return _NOT_ALNUM_ASCII.sub("", text.lower())
    return _NOT_ALNUM.sub("", normalize(text).lower())


def shingle_set(plain: str, size: int = SHINGLE_CHARS) -> frozenset[str]:
    if len(plain) <= size:
        return frozenset((plain,)) if plain else frozenset()
    return frozenset(plain[i:i + size] for i in range(len(plain) - size + 1))


def shingles(text: str, size: int = SHINGLE_CHARS) -> frozenset[str]:
    """The set of `size`-character pieces of `text`'s letters and digits, normalised and lower-cased."""
    return shingle_set(plain_text(text), size)


def _splitmix64(x: np.ndarray) -> np.ndarray:
    """A fixed, well-mixing 64-bit permutation (Steele et al.'s splitmix64 finaliser), elementwise."""
    import numpy as np

    x = x + np.uint64(0x9E3779B97F4A7C15)
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def _seeds() -> np.ndarray:
    import numpy as np

    seeds, state = [], 0x5EED5EED5EED5EED
    for _ in range(SKETCH_HASHES):  # splitmix64's own sequence: fixed, independent-looking seeds
        state = (state + 0x9E3779B97F4A7C15) & _MASK64
        z = state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK64
        seeds.append(z ^ (z >> 31))
    return np.array(seeds, dtype=np.uint64)


_SEEDS: np.ndarray | None = None


def sketch(text: str) -> bytes:
    """The MinHash sketch of `text`'s shingles (`SKETCH_BYTES` bytes); all 0xff for a text without letters/digits."""
    import numpy as np

    global _SEEDS
    if _SEEDS is None:
        _SEEDS = _seeds()
    plain = plain_text(text)
    if not plain:
        return b"\xff" * SKETCH_BYTES
    codes = np.frombuffer(plain.encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
    with np.errstate(over="ignore"):
        if len(codes) <= SHINGLE_CHARS:  # the whole text is its one shingle (as `shingle_set`)
            ids = np.array([0], dtype=np.uint64)
            for c in codes:
                ids = ids * np.uint64(0x100000001B3) + c
        else:  # a polynomial hash of each window of SHINGLE_CHARS code points
            n = len(codes) - SHINGLE_CHARS + 1
            ids = np.zeros(n, dtype=np.uint64)
            for k in range(SHINGLE_CHARS):
                ids = ids * np.uint64(0x100000001B3) + codes[k:k + n]
        hashed = _splitmix64(np.unique(ids)[None, :] ^ _SEEDS[:, None])  # (SKETCH_HASHES, distinct shingles)
        minima = hashed.min(axis=1)
    return (minima & np.uint64(0xFFFF)).astype("<u2").tobytes()


def agreeing(sketches: np.ndarray, one: np.ndarray) -> np.ndarray:
    """How many positions of each row of `sketches` (n × SKETCH_HASHES uint16) agree with `one`."""
    return (sketches == one).sum(axis=1)
