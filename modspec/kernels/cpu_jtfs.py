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
  wavelet; the frequential averaging (a real map) is another product.
- The temporal low-pass after the second modulus is a decimating FIR
  (:func:`modspec.kernels.cpu_scattering.lowpass_modulus`) that computes only
  the kept frames, fused with the modulus.
- The signal is reflect-padded as kymatio, or (``compact``) to a shorter
  length beyond the reach of the filters (the time scattering's geometry),
  which changes nothing but rounding.

Everything here is private to :mod:`modspec.features.scattering`, which validates.
"""

import functools
from dataclasses import dataclass

import numpy as np
import scipy.fft

from modspec import filters

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


def _border_indices(log2_max, i0, i1):
    """kymatio's compute_border_indices: start and end of the unpadded signal at every level."""
    start, end = [i0], [i1]
    for _ in range(log2_max):
        start.append(start[-1] // 2 + start[-1] % 2)
        end.append(end[-1] // 2 + end[-1] % 2)
    return start, end


@dataclass(frozen=True)
class _FrequencyBlock:
    """The frequential filtering of one input block (S1, or the Y2 of one n2) with m rows."""

    n_fr: tuple  # filter indices, in output order
    offsets: tuple  # row offset of each filter's output in the stacked map
    n_rows: tuple  # rows of each filter's output before averaging
    maps: np.ndarray  # complex (sum(n_rows), m)
    averaging: tuple  # per filter: None (spin 0) or the real averaging matrix
    n1_stride: tuple  # per filter: kymatio's n1_stride (for unpadding and keys)


@dataclass(frozen=True)
class _SecondOrder:
    n2: int
    j2: int
    n1: np.ndarray  # first-order indices feeding it (j1 < j2): a prefix 0..m-1
    psi2_levels: tuple  # per n1: psi2 at the level k1 of U1[n1] (sum convention)
    k2: tuple  # per n1: further subsampling after filtering
    phi_f: np.ndarray  # temporal low-pass at level j2
    k_avg: int  # subsampling of the low-pass output, 2**(log2_stride - j2)
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


def _block(bank, n_in, log2_stride_fr, spinned, dtype):
    n_fr, offsets, n_rows, maps, averaging, strides = [], [], [], [], [], []
    offset = 0
    for index in range(len(bank.xi)):
        spin = int(bank.spin[index])
        if not spinned and spin < 0:
            continue
        j_fr = int(bank.j[index])
        k_fr = min(j_fr, log2_stride_fr)
        matrix = _frequency_map(bank.psi_f[index], n_in, k_fr)
        if spin == 0:
            averaging.append(None)
            strides.append(2**j_fr)
        else:
            k_in = min(j_fr, bank.log2_F)
            averaging.append(
                _averaging_map(bank.phi_level(k_in), bank.N >> k_fr, log2_stride_fr - k_in).astype(dtype)
            )
            strides.append(2**log2_stride_fr)
        n_fr.append(index)
        offsets.append(offset)
        n_rows.append(matrix.shape[0])
        maps.append(matrix)
        offset += matrix.shape[0]
    cdtype = np.result_type(dtype, np.complex64)
    return _FrequencyBlock(
        tuple(n_fr), tuple(offsets), tuple(n_rows), np.concatenate(maps).astype(cdtype), tuple(averaging), tuple(strides)
    )


@functools.lru_cache(maxsize=8)
def jtfs_plan(geometry_key, J, Q, T, J_fr, Q_fr, F, n_fr_padded, dtype):
    """Filters and linear maps of a jTFS, for signals of the geometry ``(n_samples, n_padded, pad_left)``."""
    n_samples, n_padded, pad_left = geometry_key
    bank = filters.scattering_filterbank(n_padded, J, Q, T)
    bank_fr = filters.frequential_filterbank(n_fr_padded, J_fr, Q_fr, F)
    log2_stride = bank.log2_T
    log2_stride_fr = bank_fr.log2_F
    j1 = bank.psi1_j
    k1 = np.minimum(j1, log2_stride)
    levels = sorted(set(k1.tolist()) | {0} | {int(j) for j in bank.psi2_j if j <= log2_stride})
    dtype = np.dtype(dtype)
    phi_levels = {k: _sum_level(bank.phi_f, k).astype(dtype) for k in levels}
    start, end = _border_indices(max(log2_stride, J), pad_left, pad_left + n_samples)
    first = _block(bank_fr, len(j1), log2_stride_fr, spinned=False, dtype=dtype)
    second = []
    for n2, j2 in enumerate(bank.psi2_j.tolist()):
        n1 = np.flatnonzero(j1 < j2)
        if n1.size == 0:
            continue
        k2 = [min(j2 - int(k1[i]), log2_stride) for i in n1]
        if any(int(k1[i]) + k != j2 for i, k in zip(n1, k2)) or j2 > log2_stride:
            raise ValueError(f"second-order wavelet {n2} (j2={j2}) is coarser than the output rate 2**{log2_stride}")
        second.append(_SecondOrder(
            n2, j2, n1, tuple(_sum_level(bank.psi2_f[n2], int(k1[i])).astype(dtype) for i in n1), tuple(k2),
            phi_levels[j2], log2_stride - j2, _block(bank_fr, n1.size, log2_stride_fr, spinned=True, dtype=dtype),
        ))
    return JTFSPlan(
        n_samples, n_padded, pad_left, log2_stride, slice(start[log2_stride], end[log2_stride]),
        bank.psi1_f.astype(dtype), k1, phi_levels, first, tuple(second), len(j1), dtype,
    )


def _lowpass(U, phi_f, k):
    """Real ``U`` (..., L) filtered by ``phi_f`` (L bins) and subsampled by 2**k, as kymatio (via the FFT)."""
    return scipy.fft.ifft(_subsample_fourier(scipy.fft.fft(U) * phi_f, k)).real


def jtfs(x, plan, *, format="time"):
    """Joint time-frequency scattering of real signals ``x`` (B, n_samples); see features.scattering.jtfs."""
    dtype = plan.dtype
    x_pad = np.pad(x, ((0, 0), (plan.pad_left, plan.n_padded - plan.n_samples - plan.pad_left)), mode="reflect")
    X = scipy.fft.fft(x_pad)
    s = plan.log2_stride
    frames = plan.frames

    S0 = _lowpass(x_pad, plan.phi_levels[0], s)[:, frames].astype(dtype, copy=False)
    U1_hat = [None] * plan.n1_count
    S1 = np.empty((x.shape[0], plan.n1_count, plan.n_padded >> s), dtype=dtype)
    for n1 in range(plan.n1_count):
        k1 = int(plan.k1[n1])
        U = np.abs(scipy.fft.ifft(_subsample_fourier(X * plan.psi1_f[n1], k1)))
        U1_hat[n1] = scipy.fft.fft(U)
        S1[:, n1] = scipy.fft.ifft(_subsample_fourier(U1_hat[n1] * plan.phi_levels[k1], s - k1)).real

    paths = []  # (order, n2, n_fr, coefficients (B, rows, t), n1_max, n1_stride)
    block = plan.first
    Y = np.abs(np.matmul(block.maps, S1))
    for index, offset, rows, averaging, stride in zip(
        block.n_fr, block.offsets, block.n_rows, block.averaging, block.n1_stride
    ):
        coef = Y[:, offset:offset + rows]
        if averaging is not None:
            coef = np.matmul(averaging, coef)
        paths.append((1, None, index, coef, plan.n1_count, stride))

    for second in plan.second:
        Y2 = np.stack([
            scipy.fft.ifft(_subsample_fourier(U1_hat[n1] * psi, k2))
            for n1, psi, k2 in zip(second.n1, second.psi2_levels, second.k2)
        ], axis=1)
        block = second.block
        Y = np.abs(np.matmul(block.maps, Y2))
        Y = _lowpass(Y, second.phi_f, second.k_avg)
        for index, offset, rows, averaging, stride in zip(
            block.n_fr, block.offsets, block.n_rows, block.averaging, block.n1_stride
        ):
            coef = Y[:, offset:offset + rows]
            if averaging is not None:
                coef = np.matmul(averaging, coef)
            paths.append((2, second.n2, index, coef, second.n1.size, stride))

    return S0, [(order, n2, n_fr, coef[..., frames].astype(dtype, copy=False), n1_max, stride)
                for order, n2, n_fr, coef, n1_max, stride in paths]
