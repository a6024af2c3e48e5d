"""Hamming distances of every row to one seed row, for the seeding starts (k-means++, random_from_data).

Rows are bit-packed once (:func:`pack_rows`: bit ``d`` of a row set where the cell is 1, 64
cells a ``uint64`` word, padding bits 0), then each distance is a popcount per word:

* fully observed: ``popcount(a ^ s)``, the number of cells that differ;
* missing cells (two bitsets per row, ones and observed): ``m = popcount((a ^ s) & oa & os)``
  disagreements over ``b = popcount(oa & os)`` cells observed in both, rescaled to all D
  features, ``m * D / b`` (0 when ``b == 0``), as ``sklearn.metrics.pairwise.nan_euclidean_distances``;
* sparse CSR rows of ones: ``|x| + |s| - 2 x.s``, the dot product by a loop over the row's
  stored ones.

Every distance is the exact value of the NumPy formulas it replaced (integers, or the same
``float64`` division), so the seeds drawn from them do not change.  MNIST train (60000 x 784):
one pass took ~35 ms with NumPy fancy-indexing copies; measurements in ``docs/design.md``
(compiled starts).
"""

from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import prange, types
from numba.core import cgutils
from numba.extending import intrinsic, overload

from .jit import build_serial_and_parallel
from .missing import MISSING
from .threads import run_serial_or_parallel

__all__ = ["WORD_BITS", "pack_rows", "pack_missing", "hamming_packed", "hamming_packed_missing", "hamming_csr",
           "popcount"]

#: Cells per packed word.
WORD_BITS = 64

#: Rows packed per call of ``np.packbits`` (bounds the temporaries of a comparison to ~8 MB at D = 1000).
_PACK_ROWS = 8192


def popcount(word):
    """Return the number of set bits of a ``uint64`` word (``llvm.ctpop`` when compiled)."""
    return int(word).bit_count()


@intrinsic
def _ctpop(typingctx, word):
    def codegen(context, builder, sig, args):
        i64 = ir.IntType(64)
        fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(i64, [i64]), "llvm.ctpop.i64")
        return builder.call(fn, [args[0]])

    return types.int64(types.uint64), codegen


@overload(popcount, jit_options={"nogil": True})
def _popcount_compiled(word):
    return lambda word: _ctpop(word)


def pack_rows(X, code=1):
    """Bit-pack the cells of X equal to ``code``: 64 cells a word, padding bits 0.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features), uint8
    code : int or None, default=1
        Bits set where ``X == code``; None: where ``X != 0`` (X already 0/1: no comparison).

    Returns
    -------
    words : ndarray of shape (n_samples, ceil(n_features / 64)), uint64, C-contiguous
    """
    X = np.asarray(X)
    if X.ndim != 2 or X.dtype != np.uint8:
        raise TypeError(f"X must be a 2D uint8 array; got {X.dtype} of shape {X.shape}")
    N, D = X.shape
    n_words = (D + WORD_BITS - 1) // WORD_BITS
    out = np.zeros((N, n_words * 8), dtype=np.uint8)
    n_bytes = (D + 7) // 8
    for start in range(0, N, _PACK_ROWS):
        block = X[start : start + _PACK_ROWS]
        out[start : start + _PACK_ROWS, :n_bytes] = np.packbits(block if code is None else block == code, axis=1)
    return out.view(np.uint64)


def pack_missing(codes):
    """Bit-pack coded rows (0, 1, ``MISSING``) as two bitsets, ``(ones, observed)``.

    Parameters
    ----------
    codes : ndarray of shape (n_samples, n_features), uint8

    Returns
    -------
    ones, observed : ndarray of shape (n_samples, ceil(n_features / 64)), uint64
        :func:`pack_rows` with ``code=1``, and of the cells that are not ``MISSING``.
    """
    real = pack_rows(np.ones((1, np.shape(codes)[1]), dtype=np.uint8), None)[0]  # padding bits stay 0
    return pack_rows(codes, 1), pack_rows(codes, MISSING) ^ real


def _packed_body(words, seed, out):
    """Per row: the cells where it differs from the seed."""
    for n in prange(words.shape[0]):
        count = 0
        for j in range(words.shape[1]):
            count += popcount(words[n, j] ^ seed[j])
        out[n] = count


def _packed_missing_body(ones, observed, seed_ones, seed_observed, n_features, out):
    """Per row: disagreements over the cells observed in both, times D over their number."""
    for n in prange(ones.shape[0]):
        differ = 0
        both = 0
        for j in range(ones.shape[1]):
            common = observed[n, j] & seed_observed[j]
            both += popcount(common)
            differ += popcount((ones[n, j] ^ seed_ones[j]) & common)
        out[n] = differ * n_features / both if both > 0 else 0.0


def _csr_body(indptr, indices, seed, seed_ones, out):
    """Per CSR row: ``|x| + |s| - 2 x.s`` over its stored ones."""
    for n in prange(indptr.shape[0] - 1):
        common = 0.0  # float: exact for 0/1 sums, and LLVM keeps it scalar (an int64 sum was
        for p in range(indptr[n], indptr[n + 1]):  # vectorised with gathers: 13-25 ms, not 5)
            common += seed[indices[p]]
        out[n] = indptr[n + 1] - indptr[n] + seed_ones - 2.0 * common


_PACKED = build_serial_and_parallel(_packed_body)
_PACKED_MISSING = build_serial_and_parallel(_packed_missing_body)
_CSR = build_serial_and_parallel(_csr_body)


def _check_words(name, words, ndim):
    if not isinstance(words, np.ndarray) or words.dtype != np.uint64 or words.ndim != ndim:
        raise TypeError(f"{name} must be a {ndim}D uint64 array (pack_rows); got {type(words).__name__}")
    if not words.flags.c_contiguous:
        raise ValueError(f"{name} must be C-contiguous")


def _check_seed(name, seed, n_words):
    _check_words(name, seed, 1)
    if seed.shape[0] != n_words:
        raise ValueError(f"{name} has {seed.shape[0]} words; the rows have {n_words}")


def hamming_packed(words, seed, *, parallel=None):
    """Hamming distance of every packed row to a packed seed (fully observed rows).

    Parameters
    ----------
    words : ndarray of shape (n_samples, n_words), uint64
        :func:`pack_rows` of the data.
    seed : ndarray of shape (n_words,), uint64
        :func:`pack_rows` of the seed row.
    parallel : bool or None, default=None
        As in :func:`bmm_numba.kernels.threads.run_serial_or_parallel`, with ``work`` the words
        read (``n_samples * n_words``; a word is a few instructions).  MNIST train (780000 words)
        stays serial: 0.35 ms a pass against 0.40 ms with 2 threads.

    Returns
    -------
    dist : ndarray of shape (n_samples,), float64
        Whole numbers.
    """
    _check_words("words", words, 2)
    _check_seed("seed", seed, words.shape[1])
    out = np.empty(words.shape[0])
    run_serial_or_parallel(_PACKED, (words, seed, out), parallel=parallel, work=words.size)
    return out


def hamming_packed_missing(ones, observed, seed_ones, seed_observed, *, n_features, parallel=None):
    """Hamming distance over the cells observed in both, rescaled to ``n_features`` cells.

    Parameters
    ----------
    ones, observed : ndarray of shape (n_samples, n_words), uint64
        :func:`pack_rows` of the codes with ``code=1`` and of ``codes != MISSING``.
    seed_ones, seed_observed : ndarray of shape (n_words,), uint64
        The same for the seed row.
    n_features : int
        D, the scale of the distance.
    parallel : bool or None, default=None
        As in :func:`hamming_packed` (``work`` = twice the words).

    Returns
    -------
    dist : ndarray of shape (n_samples,), float64
        ``mismatches * D / both``, 0 where no cell is observed in both.
    """
    _check_words("ones", ones, 2)
    _check_words("observed", observed, 2)
    if observed.shape != ones.shape:
        raise ValueError(f"observed has shape {observed.shape}; ones has {ones.shape}")
    _check_seed("seed_ones", seed_ones, ones.shape[1])
    _check_seed("seed_observed", seed_observed, ones.shape[1])
    out = np.empty(ones.shape[0])
    run_serial_or_parallel(_PACKED_MISSING, (ones, observed, seed_ones, seed_observed, np.int64(n_features), out),
                           parallel=parallel, work=2 * ones.size)
    return out


def hamming_csr(indptr, indices, seed, *, parallel=None):
    """Hamming distance of every CSR row of ones to a dense 0/1 seed.

    Parameters
    ----------
    indptr : ndarray of shape (n_samples + 1,), int64
    indices : ndarray of shape (nnz,), int64
        Column indices of the stored ones, in ``[0, n_features)`` (not checked here: the
        structure of :class:`~bmm_numba.em.data.MixtureData`, checked once when encoded).
    seed : ndarray of shape (n_features,), uint8
        0/1.
    parallel : bool or None, default=None
        As in :func:`hamming_packed` (``work`` = stored ones).

    Returns
    -------
    dist : ndarray of shape (n_samples,), float64
        Whole numbers.
    """
    for name, a in (("indptr", indptr), ("indices", indices)):
        if not isinstance(a, np.ndarray) or a.dtype != np.int64 or a.ndim != 1:
            raise TypeError(f"{name} must be a 1D int64 array")
    if not isinstance(seed, np.ndarray) or seed.dtype != np.uint8 or seed.ndim != 1:
        raise TypeError("seed must be a 1D uint8 array")
    if indptr.shape[0] < 1 or indptr[0] != 0 or indptr[-1] != indices.shape[0]:
        raise ValueError("indptr must start at 0 and end at len(indices)")
    out = np.empty(indptr.shape[0] - 1)
    seed_ones = np.int64(np.count_nonzero(seed))
    seed = (seed != 0).astype(np.float64)
    run_serial_or_parallel(_CSR, (indptr, indices, seed, seed_ones, out), parallel=parallel, work=indices.shape[0])
    return out
