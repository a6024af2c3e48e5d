"""E-step and M-step statistics for ``scipy.sparse`` 0/1 data, never densified.

Both steps only ever touch the stored ones:

* E-step, the one-GEMM form ``log p(x_n | k) = b_k + sum_{d: x_nd = 1} w_dk`` with
  ``w = log mu - log(1 - mu)`` and ``b_k = log pi_k + sum_d log(1 - mu_kd)``.  Compiled: a loop
  over the CSR rows in ``prange`` (each iteration writes its own row); SciPy: ``X @ w + b``.
* M-step, ``S = X.T @ rw``.  Compiled: a loop over CSC columns in ``prange``, each iteration
  writing its own row ``S[:, d]`` (stored (D, K)), summed in the fixed CSC order: race-free and
  bit-identical for any thread count, without the (D, K) partial array per block that the
  dense kernels use (which at D = 100000 would cost more than the data).  SciPy: ``X.T @ rw``.
* One EM iteration fused (:func:`numba_em_pass`, what a fit runs): per CSR row the E-step above,
  then, while the row's responsibilities are in registers, ``nk`` and ``S`` (D, K) accumulated
  over the same stored ones into its block's partial sums.  Blocks are fixed ranges of rows
  holding about equal numbers of stored ones (:func:`em_blocks`, from the data alone), added in
  block order: bit-identical for any thread count.  One pass over the CSR data instead of a CSR
  pass and a CSC pass that gathers rows of ``rw`` (docs/design.md, issue 13).

The compiled kernels take ``indptr``/``indices`` as int64 (one specialisation) of a matrix
whose stored values are all 1 (explicit zeros removed by the caller).
"""

from __future__ import annotations

import numba
import numpy as np
from numba import prange

from .e_step_numba import add_row, normalise_log_row
from .e_step_numpy import log_pi, normalise_log_rows
from .jit import JIT_OPTIONS, build_serial_and_parallel
from .m_step import zero
from .simd import LANES, padd_load, pload, pstore, vadd, vadd_load, vload, vstore, vzero
from .threads import run_serial_or_parallel

__all__ = [
    "one_gemm_terms",
    "padded_terms",
    "numba_e_step",
    "scipy_e_step",
    "numba_stats",
    "scipy_stats",
    "numba_em_pass",
    "em_blocks",
    "fused_pass_fits",
    "SERIAL_AND_PARALLEL",
]


def one_gemm_terms(mu, pi):
    """``w`` of shape (D, K) C-contiguous and ``b`` of shape (K,) of the one-GEMM form."""
    log_1m_mu = np.log1p(-mu)
    weights_dk = np.ascontiguousarray((np.log(mu) - log_1m_mu).T)
    bias = log_pi(pi) + log_1m_mu.sum(axis=1)
    return weights_dk, bias


def padded_terms(mu, pi):
    """:func:`one_gemm_terms` with K padded to ``KP``: 8-lane vectors then 2-lane pairs (K = 10: 8 + 2).

    Returns ``weights`` (D * KP,) (pad lanes 0) and ``bias`` (KP,) (pad lanes ``-inf``, so their
    responsibilities are exactly 0 and add nothing to the statistics).
    """
    weights_dk, bias = one_gemm_terms(mu, pi)
    K = bias.shape[0]
    KP = K + K % 2
    weights = np.zeros((weights_dk.shape[0], KP))
    weights[:, :K] = weights_dk
    bias_p = np.full(KP, -np.inf)
    bias_p[:K] = bias
    return weights.reshape(-1), bias_p


_ZERO_PAIR = np.zeros(2)  # the start of a pair's second chain (a compile-time constant)


def _two_chains(add_load):
    """Return a compiled loop adding the rows ``indices[start:stop]`` of ``weights`` with ``add_load``.

    The ones alternate between two accumulators, ``low`` and ``high`` (one chain waits on each
    add's latency); returned unsummed.  Made once for 8-lane vectors and once for 2-lane pairs.
    """

    @numba.njit(inline="always", **JIT_OPTIONS)
    def chains(low, high, weights, indices, start, stop, KP, c):
        j = start
        while j + 1 < stop:
            low = add_load(low, weights, indices[j] * KP + c)
            high = add_load(high, weights, indices[j + 1] * KP + c)
            j += 2
        if j < stop:
            low = add_load(low, weights, indices[j] * KP + c)
        return low, high

    return chains


_vector_chains, _pair_chains = _two_chains(vadd_load), _two_chains(padd_load)


@numba.njit(inline="always", **JIT_OPTIONS)
def _csr_log_joint(out, at, indptr, indices, weights, bias, n):
    """``out[at:at + KP] = bias + sum of the weight rows of CSR row n's ones``: its log-joints.

    ``weights`` is (D, KP) flattened (:func:`padded_terms`): 8-lane vectors, then 2-lane pairs;
    two chains over the ones (one chain waits on each add's latency).
    """
    KP = bias.shape[0]
    start, stop = indptr[n], indptr[n + 1]
    for c in range(0, KP - KP % LANES, LANES):
        low, high = _vector_chains(vload(bias, c), vzero(), weights, indices, start, stop, KP, c)
        vstore(vadd(low, high), out, at + c)
    for c in range(KP - KP % LANES, KP, 2):
        low, high = _pair_chains(pload(bias, c), pload(_ZERO_PAIR, 0), weights, indices, start, stop, KP, c)
        pstore(low, out, at + c)
        pstore(padd_load(high, out, at + c), out, at + c)


@numba.njit(inline="always", **JIT_OPTIONS)
def _add_at_ones(acc, nk, row, indptr, indices, n):
    """``nk += row`` and ``acc[d * KP:(d + 1) * KP] += row`` for each one d of CSR row n."""
    KP = row.shape[0]
    start, stop = indptr[n], indptr[n + 1]
    for c in range(0, KP - KP % LANES, LANES):
        r = vload(row, c)
        vstore(vadd_load(r, nk, c), nk, c)
        for j in range(start, stop):
            at = indices[j] * KP + c
            vstore(vadd_load(r, acc, at), acc, at)
    for c in range(KP - KP % LANES, KP, 2):
        r = pload(row, c)
        pstore(padd_load(r, nk, c), nk, c)
        for j in range(start, stop):
            at = indices[j] * KP + c
            pstore(padd_load(r, acc, at), acc, at)


def _csr_e_step_body(indptr, indices, weights, bias, resp, log_prob_norm):
    """Per CSR row: ``bias + sum of the weight rows of its ones``, then stable normalisation."""
    for n in prange(indptr.shape[0] - 1):
        _csr_log_joint(resp, n * bias.shape[0], indptr, indices, weights, bias, n)
        log_prob_norm[n] = normalise_log_row(resp[n])


def _csr_em_body(indptr, indices, weights, bias, sample_weight, block_starts, part_S, part_nk, log_prob_norm):
    """One EM pass over fixed blocks of CSR rows, block b into its own partial sums.

    Block b holds rows ``block_starts[b] .. block_starts[b + 1] - 1``: the E-step of each row, then
    its weighted responsibilities added to ``part_nk[b]`` and to ``part_S[b, d]`` for each one d.
    ``part_S`` (n_blocks, D * KP) and ``part_nk`` (n_blocks, KP) are scratch: iteration ``b``
    zeroes and fills slot ``b`` only; the caller adds the slots in block order.
    """
    KP = bias.shape[0]
    for b in prange(part_S.shape[0]):
        acc, nk = part_S[b], part_nk[b]
        zero(acc)
        zero(nk)
        row = np.empty(KP)  # this block's own (a shared (n_blocks, KP) array would share cache lines)
        for n in range(block_starts[b], block_starts[b + 1]):
            _csr_log_joint(row, 0, indptr, indices, weights, bias, n)
            log_prob_norm[n] = normalise_log_row(row)
            for k in range(KP):
                row[k] *= sample_weight[n]
            _add_at_ones(acc, nk, row, indptr, indices, n)


def _csc_stats_body(indptr, indices, rw, S_dk):
    """Per CSC column d: ``S_dk[d] = sum of rw over the rows holding a one in column d``."""
    for d in prange(indptr.shape[0] - 1):
        zero(S_dk[d])
        for j in range(indptr[d], indptr[d + 1]):
            add_row(S_dk, d, rw, indices[j])


#: name -> Builds (serial, parallel); tests compare the two builds.
SERIAL_AND_PARALLEL = {
    "sparse_e_step": build_serial_and_parallel(_csr_e_step_body),
    "sparse_stats": build_serial_and_parallel(_csc_stats_body),
    "sparse_em": build_serial_and_parallel(_csr_em_body),
}

#: A block holds at least this many stored ones per feature, so zeroing and adding its (D, K)
#: partial sums costs at most ~1/16 of its accumulation (``nnz_block * K`` adds).
_MIN_BLOCK_ONES_PER_FEATURE = 16
#: At most this many blocks ...
_MAX_BLOCKS = 64
#: ... and at most this many bytes of partial sums (D = 100000, K = 200: one block, serial).
_MAX_PARTIAL_BYTES = 64 * 2**20


def numba_e_step(indptr, indices, mu, pi, *, parallel=None):
    """Compiled E-step on CSR structure.

    Parameters
    ----------
    indptr : ndarray of shape (n_samples + 1,), int64
    indices : ndarray of shape (nnz,), int64
        CSR structure of a 0/1 matrix whose stored values are all 1.
    mu : ndarray of shape (n_components, n_features)
    pi : ndarray of shape (n_components,)
    parallel : bool or None, default=None
        As in :func:`bmm_numba.kernels.threads.choose_parallel` (None: by size, ``nnz * k`` steps).

    Returns
    -------
    resp : ndarray of shape (n_samples, n_components)
    log_prob_norm : ndarray of shape (n_samples,)
    """
    weights, bias = padded_terms(mu, pi)
    n_samples, K = indptr.shape[0] - 1, mu.shape[0]
    resp = np.empty((n_samples, bias.shape[0]))
    log_prob_norm = np.empty(n_samples)
    args = (indptr, indices, weights, bias, resp, log_prob_norm)
    run_serial_or_parallel(SERIAL_AND_PARALLEL["sparse_e_step"], args, parallel=parallel, work=indices.shape[0] * K)
    return np.ascontiguousarray(resp[:, :K]), log_prob_norm


def scipy_e_step(X_csr, mu, pi):
    """SciPy E-step: one sparse-times-dense product ``X @ w + b``; see :func:`numba_e_step`."""
    weights_dk, bias = one_gemm_terms(mu, pi)
    log_joint = np.asarray(X_csr @ weights_dk)
    log_joint += bias
    return normalise_log_rows(log_joint, return_log_norm=True)


def numba_stats(indptr, indices, rw, *, parallel=None):
    """Compiled ``N_k`` and ``S`` from CSC structure (``indices`` are row numbers).

    Parameters
    ----------
    indptr, indices : ndarray of int64, shapes (n_features + 1,) and (nnz,)
        CSC structure (column starts, row numbers) of a 0/1 matrix whose stored values are all 1.
    rw : ndarray of shape (n_samples, n_components)
        Responsibilities times sample weights.
    parallel : bool or None, default=None
        As in :func:`bmm_numba.kernels.threads.choose_parallel` (None: by size, ``nnz * k`` steps).

    Returns
    -------
    nk : ndarray of shape (n_components,)
    S : ndarray of shape (n_components, n_features)
    """
    rw = np.ascontiguousarray(rw, dtype=np.float64)
    S_dk = np.empty((indptr.shape[0] - 1, rw.shape[1]))
    run_serial_or_parallel(SERIAL_AND_PARALLEL["sparse_stats"], (indptr, indices, rw, S_dk), parallel=parallel,
                           work=indices.shape[0] * rw.shape[1])
    return rw.sum(axis=0), np.ascontiguousarray(S_dk.T)


def scipy_stats(X_csr, rw):
    """SciPy ``N_k`` and ``S = (X.T @ rw).T``; same contract as :func:`numba_stats`."""
    return rw.sum(axis=0), np.ascontiguousarray(np.asarray(X_csr.T @ rw).T)


def _blocks_by_ones(nnz, n_features):
    """Most blocks with at least ``_MIN_BLOCK_ONES_PER_FEATURE * D`` stored ones each (at most 64)."""
    return min(nnz // (_MIN_BLOCK_ONES_PER_FEATURE * max(1, n_features)), _MAX_BLOCKS)


def _blocks_by_memory(n_features, n_components):
    """Most blocks whose (D, K) partial sums fit in ``_MAX_PARTIAL_BYTES``."""
    return _MAX_PARTIAL_BYTES // (8 * max(1, n_features) * max(1, n_components))


def fused_pass_fits(indptr, n_features, n_components):
    """Return False where the partial sums' memory allows one block though the ones fill several.

    There the fused pass would run in one thread (one block); the E-step then the CSC statistics
    keep every thread busy without per-block partial sums (e.g. D = 100000, K = 200: 160 MB a
    block).  A function of the data's shape only, so the choice never depends on ``parallel``.
    """
    KP = n_components + n_components % 2
    return _blocks_by_memory(n_features, KP) >= 2 or _blocks_by_ones(int(indptr[-1]), n_features) < 2


def em_blocks(indptr, n_features, n_components):
    """Row ranges of the fused pass: ``block_starts`` (n_blocks + 1,), int64.

    A function of the data and ``(D, K)`` only, never of the thread count: blocks of about
    equal numbers of stored ones, each with at least ``16 * D`` of them, at most 64 blocks and
    64 MiB of (D, K) partial sums.
    """
    nnz = int(indptr[-1])
    n_blocks = max(1, min(_blocks_by_ones(nnz, n_features), _blocks_by_memory(n_features, n_components)))
    targets = (np.arange(n_blocks + 1, dtype=np.int64) * nnz) // n_blocks
    starts = np.searchsorted(indptr, targets, side="left").astype(np.int64)
    starts[0], starts[-1] = 0, indptr.shape[0] - 1
    return starts


def numba_em_pass(indptr, indices, mu, pi, sample_weight, *, parallel=None):
    """One EM iteration's E-step and statistics in one pass over CSR structure.

    Parameters
    ----------
    indptr, indices, mu, pi
        As in :func:`numba_e_step`.
    sample_weight : ndarray of shape (n_samples,)
        Multiplies each row's responsibilities in ``nk`` and ``S``.
    parallel : bool or None, default=None
        As in :func:`bmm_numba.kernels.threads.choose_parallel` (``nnz * k`` steps).

    Returns
    -------
    nk, S, log_prob_norm : ndarray of shapes (n_components,), (n_components, n_features), (n_samples,)
        The weighted responsibility sums ``sum_n w_n r_nk`` and ``sum_n w_n r_nk x_nd``, and each
        row's unweighted ``log p(x_n)``: what the dense table pass
        (:func:`bmm_numba.kernels.table.em_pass.lut_em_pass`) returns.
    """
    weights, bias = padded_terms(mu, pi)
    K, D = mu.shape
    KP = bias.shape[0]
    starts = em_blocks(indptr, D, KP)
    n_blocks = starts.shape[0] - 1
    part_S, part_nk = np.empty((n_blocks, D * KP)), np.empty((n_blocks, KP))
    log_prob_norm = np.empty(indptr.shape[0] - 1)
    args = (indptr, indices, weights, bias, np.ascontiguousarray(sample_weight, dtype=np.float64), starts,
            part_S, part_nk, log_prob_norm)
    run_serial_or_parallel(SERIAL_AND_PARALLEL["sparse_em"], args, parallel=parallel, work=indices.shape[0] * K)
    # the blocks added in block order (a reduction over the first axis adds slot after slot)
    S_dk = np.add.reduce(part_S, axis=0).reshape(D, KP)
    return np.add.reduce(part_nk, axis=0)[:K], np.ascontiguousarray(S_dk[:, :K].T), log_prob_norm
