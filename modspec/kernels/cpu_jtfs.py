"""The CPU pipeline of joint time-frequency scattering (kymatio 0.4's ``TimeFrequencyScattering``).

The numbers are those of kymatio's development branch (its ``_reduction=np.sum``
energy convention); the work is organised differently:

- Time: each first-order modulus ``U1[n1]`` is computed once, at its
  alias-free rate, and its spectrum feeds the low-pass (S1) and all of its
  second-order wavelets; every second-order wavelet's outputs ``Y2[n1]`` are
  computed at the rate ``2**j2`` they are stored at.
- Frequency: filtering along ``n1`` (zero-padded to ``N_fr`` rows, multiplied
  by a wavelet in the Fourier domain, subsampled by ``2**k_fr``) is a fixed
  linear map from the ``m`` input rows to the ``N_fr / 2**k_fr`` output rows.
  All the maps of one input are stacked into one complex matrix, built once
  per design, so the frequential wavelet transform of a whole second-order
  block is one BLAS matrix product instead of an FFT per time sample and
  wavelet; the frequential averaging (a real map) is another product. Rows
  of a filter's output that the kept (averaged) rows never reach, or that
  are below the rounding of the dtype, are dropped from the maps.
- The temporal low-pass after the second modulus is a decimating FIR (the
  numba kernel ``_modulus_lowpass`` of :mod:`modspec.kernels.cpu_scattering`)
  that computes only the kept frames, fused with the modulus; the product
  and the FIR run in row chunks that stay in cache.
- Work is split into (n2, signal) tasks on the thread pool of
  :mod:`modspec.kernels.cpu`, each with a single BLAS thread.
- The signal is reflect-padded as kymatio, or (``compact``) to a shorter
  length beyond the reach of the filters (the time scattering's geometry),
  which changes nothing but rounding.

Everything here is private to :mod:`modspec.features.scattering`, which validates.
"""

import functools
import math
from dataclasses import dataclass

import numpy as np
import scipy.fft

from modspec import filters
from modspec.kernels import cpu_scattering
from modspec.kernels.cpu import n_threads

__all__ = ["JTFSPlan", "jtfs", "jtfs_plan"]


def _sum_level(h_f, k):
    """kymatio 0.4's filter at subsampling level ``k``: the SUM of its ``2**k`` periods."""
    return h_f.reshape(2**k, -1).sum(axis=0)


def _subsample_fourier(X, k, axis=-1):
    """Spectrum of the signal subsampled by ``2**k`` along ``axis``: the MEAN of the periods."""
    if k == 0:
        return X
    X = np.moveaxis(X, axis, -1)
    n = X.shape[-1]
    X = X.reshape(X.shape[:-1] + (2**k, n >> k)).mean(axis=-2)
    return np.moveaxis(X, -1, axis)


def _frequency_map(psi_f, n_in, k):
    """Complex (N_fr >> k, n_in) matrix: zero-pad n_in rows to N_fr, filter by ``psi_f``, subsample by 2**k."""
    n_fr = psi_f.shape[-1]
    eye = np.zeros((n_fr, n_in))
    eye[np.arange(n_in), np.arange(n_in)] = 1.0
    spectra = scipy.fft.fft(eye, axis=0) * psi_f[:, None]
    return scipy.fft.ifft(_subsample_fourier(spectra, k, axis=0), axis=0)


def _averaging_map(phi_level, n_in, k):
    """Real (n_in >> k, n_in) matrix: circular low-pass by ``phi_level`` then subsampling by 2**k."""
    spectra = scipy.fft.fft(np.eye(n_in), axis=0) * phi_level[:, None]
    return scipy.fft.ifft(_subsample_fourier(spectra, k, axis=0), axis=0).real


@dataclass(frozen=True)
class _FrequencyBlock:
    """The frequential filtering of one input block (S1, or the Y2 of one n2) with m rows.

    ``maps`` stacks, for every filter, the rows of its output that are
    needed (those reached by the averaging of the kept output rows, and not
    negligible); ``outputs[i] = (row slice in maps, real matrix A)`` turns
    the moduli of those rows into the filter's output rows: the frequential
    averaging for spinned filters, a row selection for spin 0.
    """

    n_fr: tuple
    maps: np.ndarray  # complex (R, m)
    outputs: tuple  # per filter: (slice of maps rows, real (n_out, r) matrix)


@dataclass(frozen=True)
class _SecondOrder:
    n2: int
    j2: int
    n1: np.ndarray  # first-order indices feeding it (j1 < j2): a prefix 0..m-1
    psi2_levels: tuple  # per n1: psi2 at the level k1 of U1[n1] (sum convention)
    k2: tuple  # per n1: further subsampling after filtering
    taps: np.ndarray  # FIR taps of the temporal low-pass at level j2
    right: int
    step: int  # 2**(log2_stride - j2): input samples per output frame
    block: _FrequencyBlock


@dataclass(frozen=True)
class JTFSPlan:
    n_samples: int
    n_padded: int
    pad_left: int
    log2_stride: int
    frames: slice
    psi1_f: np.ndarray
    k1: np.ndarray
    phi_levels: dict
    first: _FrequencyBlock
    second: tuple
    n1_count: int
    dtype: np.dtype


def _kept_rows(n1_max, stride, n_rows, unpad):
    """Output rows a path keeps: kymatio's ``len(range(0, n1_max, stride))`` ('time'), or all ('joint')."""
    return min(len(range(0, n1_max, stride)), n_rows) if unpad else n_rows


def _block(bank, n_in, log2_stride_fr, spinned, unpad, tol, dtype):
    n_fr, maps, outputs = [], [], []
    offset = 0
    for index in range(len(bank.xi)):
        spin = int(bank.spin[index])
        if not spinned and spin < 0:
            continue
        j_fr = int(bank.j[index])
        k_fr = min(j_fr, log2_stride_fr)
        matrix = _frequency_map(bank.psi_f[index], n_in, k_fr)
        if spin == 0:
            stride = 2**j_fr
            A = np.eye(matrix.shape[0])
        else:
            stride = 2**log2_stride_fr
            k_in = min(j_fr, bank.log2_F)
            A = _averaging_map(bank.phi_level(k_in), bank.N >> k_fr, log2_stride_fr - k_in)
        A = A[: _kept_rows(n_in, stride, A.shape[0], unpad)]
        # Rows of the filter's output that matter: reached by A, and not negligible.
        needed = (np.abs(A) > tol * np.abs(A).max()).any(axis=0)
        needed &= np.abs(matrix).max(axis=1) > tol * np.abs(matrix).max()
        rows = np.flatnonzero(needed)
        n_fr.append(index)
        maps.append(matrix[rows])
        outputs.append((slice(offset, offset + rows.size), np.ascontiguousarray(A[:, rows], dtype=dtype)))
        offset += rows.size
    cdtype = np.result_type(dtype, np.complex64)
    return _FrequencyBlock(tuple(n_fr), np.ascontiguousarray(np.concatenate(maps), dtype=cdtype), tuple(outputs))


@functools.lru_cache(maxsize=8)
def jtfs_plan(geometry_key, J, Q, T, J_fr, Q_fr, F, n_fr_padded, format, dtype):
    """Filters and linear maps of a jTFS, for signals of the geometry ``(n_samples, n_padded, pad_left)``."""
    n_samples, n_padded, pad_left = geometry_key
    dtype = np.dtype(dtype)
    unpad = format == "time"
    tail = cpu_scattering.tail_sigmas(dtype)
    tol = math.exp(-(tail**2) / 2)
    bank = filters.scattering_filterbank(n_padded, J, Q, T)
    bank_fr = filters.frequential_filterbank(n_fr_padded, J_fr, Q_fr, F)
    log2_stride = bank.log2_T
    log2_stride_fr = bank_fr.log2_F
    j1 = bank.psi1_j
    k1 = np.minimum(j1, log2_stride)
    levels = sorted(set(k1.tolist()) | {0} | {int(j) for j in bank.psi2_j if j <= log2_stride})
    phi_levels = {k: _sum_level(bank.phi_f, k) for k in levels}
    geometry = cpu_scattering.Geometry(n_samples, n_padded, pad_left)
    first_frame = geometry.start(log2_stride)
    first = _block(bank_fr, len(j1), log2_stride_fr, False, unpad, tol, dtype)
    second = []
    for n2, j2 in enumerate(bank.psi2_j.tolist()):
        n1 = np.flatnonzero(j1 < j2)
        if n1.size == 0:
            continue
        k2 = [min(j2 - int(k1[i]), log2_stride) for i in n1]
        if any(int(k1[i]) + k != j2 for i, k in zip(n1, k2)) or j2 > log2_stride:
            raise ValueError(f"second-order wavelet {n2} (j2={j2}) is coarser than the output rate 2**{log2_stride}")
        # The temporal low-pass, cut where its Gaussian falls below the rounding of dtype.
        half = math.ceil(tail / (2 * np.pi * bank.phi_sigma) / 2**j2)
        taps, right = cpu_scattering._lowpass_taps(phi_levels[j2], half)
        second.append(_SecondOrder(
            n2, j2, n1, tuple(_sum_level(bank.psi2_f[n2], int(k1[i])).astype(dtype) for i in n1), tuple(k2),
            taps.astype(dtype), right, 2 ** (log2_stride - j2),
            _block(bank_fr, n1.size, log2_stride_fr, True, unpad, tol, dtype),
        ))
    return JTFSPlan(
        n_samples, n_padded, pad_left, log2_stride,
        slice(first_frame, first_frame + geometry.count(log2_stride)),
        bank.psi1_f.astype(dtype), k1, {k: v.astype(dtype) for k, v in phi_levels.items()}, first,
        tuple(second), len(j1), dtype,
    )


def _lowpass(U, phi_f, k):
    """Real ``U`` (..., L) filtered by ``phi_f`` (L bins) and subsampled by 2**k, as kymatio (via the FFT)."""
    return scipy.fft.ifft(_subsample_fourier(scipy.fft.fft(U, workers=1) * phi_f, k), workers=1).real


def _outputs(block, Y):
    """Each filter's output rows (B, n_out, t) from the stacked moduli ``Y`` (B, R, t)."""
    return [np.matmul(A, Y[:, rows]) for rows, A in block.outputs]


# Rows of the frequential output computed at a time: the block (rows x samples,
# complex) stays in cache between the matrix product and the modulus + low-pass.
_CHUNK_POINTS = 1 << 16


def _second_order_task(plan, second, U1_hat, b, out):
    """|Y2 * psi_fr| averaged in time (FIR on the kept frames only), then in frequency, for one (n2, signal)."""
    Y2 = np.stack([
        scipy.fft.ifft(_subsample_fourier(U1_hat[n1][b] * psi, k2), workers=1)
        for n1, psi, k2 in zip(second.n1, second.psi2_levels, second.k2)
    ])
    maps = second.block.maps
    R, L = maps.shape[0], Y2.shape[1]
    count = plan.frames.stop - plan.frames.start
    S = np.empty((1, R, count), dtype=plan.dtype)
    chunk = max(1, min(R, _CHUNK_POINTS // L))
    Y = cpu_scattering._workspace("jtfs_Y", (chunk, L), maps.dtype)
    zeros = np.zeros(chunk, dtype=np.int64)
    for r0 in range(0, R, chunk):
        r1 = min(R, r0 + chunk)
        Yc = Y[: r1 - r0]
        np.matmul(maps[r0:r1], Y2, out=Yc)
        cpu_scattering._modulus_lowpass(
            Yc, second.taps, second.right, second.step, plan.frames.start,
            zeros[: r1 - r0], np.arange(r0, r1, dtype=np.int64), S,
        )
    out[second.n2, b] = _outputs(second.block, S)


@functools.cache
def _blas_controller():
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


def _single_threaded_blas():
    return _blas_controller().limit(limits=1, user_api="blas")


def jtfs(x, plan):
    """Joint time-frequency scattering of real signals ``x`` (B, n_samples); see features.scattering.jtfs.

    Returns
    -------
    S0 : np.ndarray, shape (B, n_frames)
    paths : list of (order, n2, n_fr, coefficients (B, n_rows, n_frames))
        In kymatio's order; ``n_rows`` is what the plan's format keeps.
    """
    dtype = plan.dtype
    x_pad = np.pad(x, ((0, 0), (plan.pad_left, plan.n_padded - plan.n_samples - plan.pad_left)), mode="reflect")
    X = scipy.fft.fft(x_pad, workers=n_threads())
    s = plan.log2_stride
    frames = plan.frames

    S0 = _lowpass(x_pad, plan.phi_levels[0], s)[:, frames].astype(dtype, copy=False)
    U1_hat = [None] * plan.n1_count
    S1 = np.empty((x.shape[0], plan.n1_count, frames.stop - frames.start), dtype=dtype)

    def first_order(n1):
        k1 = int(plan.k1[n1])
        U = np.abs(scipy.fft.ifft(_subsample_fourier(X * plan.psi1_f[n1], k1), workers=1))
        U1_hat[n1] = scipy.fft.fft(U, workers=1)
        S1_hat = _subsample_fourier(U1_hat[n1] * plan.phi_levels[k1], s - k1)
        S1[:, n1] = scipy.fft.ifft(S1_hat, workers=1).real[..., frames]

    cpu_scattering._run([functools.partial(first_order, n1) for n1 in range(plan.n1_count)])

    paths = []
    Y = np.abs(np.matmul(plan.first.maps, S1)).astype(dtype, copy=False)
    for index, coef in zip(plan.first.n_fr, _outputs(plan.first, Y)):
        paths.append((1, None, index, coef))

    second_out = {}
    # Biggest blocks (finest j2, longest rows) first, so the pool balances the small ones at the end.
    # One BLAS thread per task: the pool already occupies every core, and
    # nested BLAS threads would fight over them.
    with _single_threaded_blas():
        cpu_scattering._run([
            functools.partial(_second_order_task, plan, second, U1_hat, b, second_out)
            for second in plan.second for b in range(x.shape[0])
        ])
    for second in plan.second:
        per_signal = [second_out[second.n2, b] for b in range(x.shape[0])]
        for i, index in enumerate(second.block.n_fr):
            paths.append((2, second.n2, index, np.concatenate([coefs[i] for coefs in per_signal])))
    return S0, paths
