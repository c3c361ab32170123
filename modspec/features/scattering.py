r"""Wavelet scalogram and time scattering (kymatio 0.3.0's ``Scattering1D``).

The scattering of a signal x at scale ``T`` is

.. math::

    S_0 x = x \star \phi, \quad
    S_1 x(\lambda_1) = |x \star \psi_{\lambda_1}| \star \phi, \quad
    S_2 x(\lambda_1, \lambda_2) = ||x \star \psi_{\lambda_1}| \star \psi_{\lambda_2}| \star \phi,

with the Morlet wavelets and the Gaussian low-pass of
:func:`modspec.filters.scattering_filterbank`, subsampled by ``2**floor(log2 T)``.
The numbers are kymatio 0.3.0's (``out_type='array'``, same path order, same
padding and border indices, the 0.3.0 energy convention); the work runs in
:mod:`modspec.kernels.cpu_scattering`.
"""

import functools
import math
import numbers

import numpy as np
import scipy.fft

from modspec import _backend, filters
from modspec.errors import ParameterError, check_audio, check_sample_rate, warn_user
from modspec.kernels import cpu_jtfs, cpu_scattering

__all__ = ["jtfs", "jtfs_meta", "jtfs_tensor", "scalogram", "scattering", "scattering_meta"]

_SIGMA0 = 0.1


def _check_max_order(max_order):
    if isinstance(max_order, bool) or max_order not in (1, 2):
        raise ParameterError(f"max_order={max_order!r} is not supported; use 1 or 2")
    return int(max_order)


def _check_oversampling(oversampling):
    if isinstance(oversampling, bool) or not isinstance(oversampling, numbers.Integral) or oversampling < 0:
        raise ParameterError(f"oversampling={oversampling!r} must be a non-negative integer (a power of 2 exponent)")
    return int(oversampling)


def _check_scales(n_samples, J, Q, T):
    """Validated (J, (Q1, Q2), T) for signals of ``n_samples`` samples."""
    J = filters._check_J(J)
    Q = filters._check_Q(Q)
    T_in = T
    T = filters._check_T(T, J)
    if 2**J > n_samples:
        raise ParameterError(
            f"J={J} is too large for signals of {n_samples} samples: the largest wavelet spans 2**J = {2**J} "
            f"samples; use J <= {math.floor(math.log2(n_samples))} or a longer signal"
        )
    if T_in is not None and T > n_samples:
        raise ParameterError(
            f"T={T} is larger than the signal ({n_samples} samples); use T <= {n_samples} or a longer signal"
        )
    return J, Q, T


@functools.lru_cache(maxsize=64)
def _crossing(J, Q):
    """Pairs (n1, n2) with j2 > j1 but xi2 >= xi1: second-order wavelets above their first-order one."""
    g1, g2 = filters.wavelet_geometry(J, Q[0]), filters.wavelet_geometry(J, Q[1])
    bad = (g2.j[None, :] > g1.j[:, None]) & (g2.xi[None, :] >= g1.xi[:, None])
    return int(bad.sum())


def _warn_crossing(J, Q, max_order):
    n_bad = _crossing(J, Q) if max_order == 2 else 0
    if n_bad:
        warn_user(
            f"J={J}, Q={Q}: {n_bad} second-order paths (j2 > j1) have a wavelet centred at or above their "
            "first-order wavelet (xi2 >= xi1), which carries aliasing; kymatio 0.3.0 refuses this bank. "
            "Use Q2 <= Q1"
        )


def _temporal_support(h_f, criterion=1e-3):
    """kymatio's compute_temporal_support: smallest half-width holding all but ``criterion`` of |h|'s L1 mass."""
    h = np.abs(scipy.fft.ifft(h_f))
    half = h.shape[0] // 2
    residual = np.cumsum(h[:half][::-1])[::-1]
    below = np.flatnonzero(residual <= criterion)
    if below.size:
        return int(below[0]) + 1, True
    return half, False


def _smooth_ceil(n):
    """Smallest 2^a 3^b 5^c >= n (a fast FFT length for pocketfft)."""
    best = 1 << max(0, int(n - 1).bit_length())
    p5 = 1
    while p5 < best:
        p35 = p5
        while p35 < best:
            m = p35
            while m < n:
                m *= 2
            best = min(best, m)
            p35 *= 3
        p5 *= 5
    return best


@functools.lru_cache(maxsize=64)
def _kymatio_padding(n_samples, T):
    """kymatio 0.3.0's (N_padded, pad_left) and whether the low-pass fits in the signal."""
    phi_f = filters.morlet_1d(n_samples, 0.0, _SIGMA0 / T)
    support, fits = _temporal_support(phi_f)
    min_to_pad = 3 * support
    J_max_support = int(np.floor(np.log2(3 * n_samples - 2)))
    J_pad = min(int(np.ceil(np.log2(n_samples + 2 * min_to_pad))), J_max_support)
    n_padded = 2**J_pad
    return n_padded, (n_padded - n_samples) // 2, fits


def _reach(dtype, *sigmas):
    """Samples beyond which a cascade of Gaussian-windowed filters (bandwidths ``sigmas``) is negligible.

    The sensitivity of a cascade of filters and moduli to the input at
    distance d is bounded by the convolution of the filters' absolute values,
    a Gaussian whose variance is the sum of theirs.
    """
    sigma_t = math.sqrt(sum((1.0 / (2 * np.pi * s)) ** 2 for s in sigmas))
    return math.ceil(cpu_scattering.tail_sigmas(dtype) * sigma_t)


def _compact(n_samples, need, step, residue):
    """A shorter padded length: (n_padded, pad_left) with both pads >= need, pad_left = residue mod step."""
    n_padded = step * _smooth_ceil(-(-(n_samples + 2 * need + step) // step))
    extra = n_padded - n_samples
    pad_left = residue + step * ((extra // 2 - residue) // step)
    return n_padded, pad_left


@functools.lru_cache(maxsize=64)
def _scattering_geometry(n_samples, J, Q, T, max_order, dtype, compact=True):
    """(n_samples, n_padded, pad_left) of the time scattering, and whether the low-pass fits in the signal.

    kymatio reflect-pads to a power of two, often twice the signal. The result
    depends only on the padding within the reach of the cascade of filters
    (widest first- and second-order wavelets, low-pass), so a shorter
    5-smooth length whose pads exceed that reach gives the same numbers (to
    the rounding of ``dtype``) at less cost; it keeps kymatio's left pad
    modulo the output subsampling so that output frames fall on the same
    instants. kymatio's own length is kept when it is not longer.
    """
    n_padded, pad_left, fits = _kymatio_padding(n_samples, T)
    if compact:
        sigmas = [filters.wavelet_geometry(J, Q[0]).sigma.min(), _SIGMA0 / T]
        if max_order == 2:
            sigmas.append(filters.wavelet_geometry(J, Q[1]).sigma.min())
        need = _reach(dtype, *sigmas)
        step = 2 ** math.floor(math.log2(T))
        n_short, pad_short = _compact(n_samples, need, step, pad_left % step)
        pad_right = n_short - n_samples - pad_short
        if n_short < n_padded and min(pad_short, pad_right) >= need and max(pad_short, pad_right) < n_samples:
            n_padded, pad_left = n_short, pad_short
    return (n_samples, n_padded, pad_left), fits


@functools.lru_cache(maxsize=64)
def _scalogram_geometry(n_samples, J, Q1, k, dtype):
    """(n_samples, n_padded, pad_left) for a scalogram every 2**k samples, frames at multiples of 2**k."""
    need = _reach(dtype, filters.wavelet_geometry(J, Q1).sigma.min())
    step = 2**k
    n_padded, pad_left = _compact(n_samples, need, step, 0)
    return n_samples, n_padded, pad_left


def _rows(y):
    """``y`` (..., n_samples) as rows (n_batch, n_samples), and the leading shape.

    NumPy rows are made contiguous here; the GPU pipelines do it themselves
    after checking that the batch fits in device memory.
    """
    rows = y.reshape((-1, y.shape[-1]))
    return (rows if _backend.is_cupy(y) else np.ascontiguousarray(rows)), y.shape[:-1]


def _pipelines(y):
    """The module that runs the transforms on ``y``'s device: cpu_scattering, or the GPU pipelines."""
    if _backend.is_cupy(y):
        from modspec.kernels import gpu_scattering

        return gpu_scattering
    return cpu_scattering


def _warn_support(fits, n_samples, T):
    if not fits:
        warn_user(
            f"Signal support is too small to avoid border effects: the low-pass of T={T} is wider than "
            f"half of the {n_samples} samples (kymatio warns alike)"
        )


@_backend.on_input_device
def scattering(y, *, J, Q=1, T=None, max_order=2, oversampling=0):
    r"""Time scattering coefficients of order 0, 1 (and 2): kymatio 0.3.0's ``Scattering1D``.

    ``S0 = x * phi``, ``S1[n1] = |x * psi1[n1]| * phi`` and
    ``S2[n1, n2] = ||x * psi1[n1]| * psi2[n2]| * phi`` for every ``n2`` with
    ``j2 > j1``, subsampled by ``2**floor(log2 T)``, stacked along one axis
    in kymatio's order (see :func:`scattering_meta`).

    Parameters
    ----------
    y : np.ndarray, shape (..., n_samples), float32 or float64
        Signals, at least ``2**J`` (and ``T``) samples long.
    J : int > 0
        Scale of the largest wavelet, ``2**J`` samples.
    Q : int or tuple of int
        Wavelets per octave: ``Q1`` for the first order (``Q2 = 1``), or ``(Q1, Q2)``.
    T : int > 0 or None
        Averaging scale of the low-pass in samples, at most ``n_samples``
        (default ``2**J``); the output is subsampled by ``2**floor(log2 T)``.
    max_order : {1, 2}
        Highest scattering order.
    oversampling : int >= 0
        Subsample ``2**oversampling`` times less (kymatio's ``oversampling``).

    Returns
    -------
    np.ndarray, shape (..., n_paths, n_frames), dtype of ``y``
        ``n_paths = 1 + n1 + n2_paths`` (kymatio's ``output_size()``),
        ``n_frames = ceil(n_samples / 2**(floor(log2 T) - oversampling))``
        (give or take one, as kymatio's border indices).

    Raises
    ------
    ParameterError
        A non-float or non-finite ``y``; J, Q, T not positive integers; J
        too large for the signal (``2**J > n_samples``); ``T > n_samples``.

    Warns
    -----
    UserWarning
        When the low-pass is wider than the signal (kymatio's "Signal support
        is too small to avoid border effects"), and when a second-order
        wavelet lies above its first-order one (``Q2 > Q1`` at small Q;
        kymatio refuses such banks).

    See Also
    --------
    scattering_meta : the order, scales and filter indices of every path.
    modspec.nn.Scattering1D : the same in torch, differentiable.

    Notes
    -----
    Same numbers as kymatio 0.3.0 (float64: ~1e-14 relative to each order's
    maximum; float32: ~3e-7), including its energy convention: a modulus
    computed at the rate ``2**k`` (``k = min(j1, log2 T)`` at order 1) is
    averaged by a low-pass periodised with a *mean*, which divides the path
    by ``2**k`` (kymatio 0.4 sums instead).

    Multirate and band-limited: each spectrum is multiplied by a wavelet over
    the wavelet's band only and folded to the wavelet's alias-free rate
    before a short inverse FFT; every first-order modulus feeds all of its
    second-order paths; the final low-pass is a decimating FIR that computes
    only the kept frames. The signal is reflect-padded as kymatio does, to a
    shorter, fast FFT length when the filters' reach allows it (same numbers
    to rounding). Runs on all cores. Filters are designed once per (length,
    J, Q, T) and cached; numba compiles the kernels on the first call.

    On a CuPy array the same plan runs on the array's GPU
    (:mod:`modspec.kernels.gpu_scattering`: numba.cuda kernels and cuFFT)
    and the result is a CuPy array.

    Examples
    --------
    >>> import numpy as np
    >>> from modspec.features.scattering import scattering
    >>> y = np.random.default_rng(0).standard_normal((2, 4096)).astype(np.float32)
    >>> S = scattering(y, J=6, Q=8)
    >>> S.shape, S.dtype
    ((2, 126, 64), dtype('float32'))
    """
    check_audio(y)
    n_samples = y.shape[-1]
    J, Q, T = _check_scales(n_samples, J, Q, T)
    max_order = _check_max_order(max_order)
    oversampling = _check_oversampling(oversampling)
    _warn_crossing(J, Q, max_order)
    key, fits = _scattering_geometry(n_samples, J, Q, T, max_order, y.dtype)
    _warn_support(fits, n_samples, T)
    plan = cpu_scattering.scattering_plan(key, J, Q, T, max_order, oversampling, y.dtype)
    y2, lead = _rows(y)
    out = _pipelines(y).scattering(y2, plan)
    return out.reshape(lead + out.shape[1:])


def scattering_meta(*, J, Q=1, T=None, max_order=2):
    """What each path of :func:`scattering` is: order, filter indices, scales (kymatio's ``meta()``).

    Parameters
    ----------
    J, Q, T, max_order
        As :func:`scattering`.

    Returns
    -------
    dict
        ``'order'``: (n_paths,) int; ``'xi'``, ``'sigma'``: (n_paths, max_order)
        centre frequencies and bandwidths in cycles per sample of the wavelets
        at orders 1 and 2; ``'j'``, ``'n'``: (n_paths, max_order) their scales
        and indices (n1, n2), as floats; NaN where a path has no such order;
        ``'key'``: list of tuples ``()``, ``(n1,)``, ``(n1, n2)``.

    Examples
    --------
    >>> from modspec.features.scattering import scattering_meta
    >>> meta = scattering_meta(J=6, Q=8)
    >>> meta['order'].shape, meta['key'][:3], meta['key'][-1]
    ((126,), [(), (0,), (1,)], (32, 6))
    """
    J = filters._check_J(J)
    Q = filters._check_Q(Q)
    T = filters._check_T(T, J)
    max_order = _check_max_order(max_order)
    g1 = filters.wavelet_geometry(J, Q[0])
    g2 = filters.wavelet_geometry(J, Q[1])
    rows = [(0, (), (), (), ())]
    second = []
    for n1, (xi1, s1, j1) in enumerate(zip(g1.xi.tolist(), g1.sigma.tolist(), g1.j.tolist())):
        rows.append((1, (xi1,), (s1,), (j1,), (n1,)))
        if max_order < 2:
            continue
        for n2, (xi2, s2, j2) in enumerate(zip(g2.xi.tolist(), g2.sigma.tolist(), g2.j.tolist())):
            if j2 > j1:
                second.append((2, (xi1, xi2), (s1, s2), (j1, j2), (n1, n2)))
    rows += second

    def padded(field):
        return np.array([row[field] + (math.nan,) * (max_order - len(row[field])) for row in rows], dtype=np.float64)

    return {
        "order": np.array([row[0] for row in rows]),
        "xi": padded(1),
        "sigma": padded(2),
        "j": padded(3),
        "n": padded(4),
        "key": [row[4] for row in rows],
    }


def _check_hop(hop_length, n_samples):
    if (
        isinstance(hop_length, bool)
        or not isinstance(hop_length, numbers.Integral)
        or hop_length < 1
        or hop_length & (hop_length - 1)
        or hop_length > n_samples
    ):
        raise ParameterError(
            f"hop_length={hop_length!r} must be a power of 2 between 1 and the signal length ({n_samples})"
        )
    return int(hop_length).bit_length() - 1


@_backend.on_input_device
def scalogram(y, *, J, Q=1, hop_length=1, sr=None):
    r"""Wavelet scalogram ``|y * psi1[n]|``: the first-order wavelet modulus of the scattering.

    The modulus of the signal filtered by each first-order Morlet wavelet of
    :func:`scattering` (same J, Q; row ``n`` is the path ``(n,)`` of
    :func:`scattering_meta`, before the low-pass), sampled every
    ``hop_length`` samples: frame ``t`` is the modulus at sample
    ``t * hop_length`` (exact samples of the full-rate modulus, not averaged).

    Parameters
    ----------
    y : np.ndarray, shape (..., n_samples), float32 or float64
        Signals, at least ``2**J`` samples long.
    J : int > 0
        Scale of the largest wavelet, ``2**J`` samples.
    Q : int or tuple of int
        Wavelets per octave (``Q1``; a tuple's ``Q2`` is ignored here).
    hop_length : int
        Power of 2: samples between frames (1: full rate).
    sr : float > 0 or None
        Sample rate in Hz: centre frequencies in Hz; None: in cycles per sample.

    Returns
    -------
    S : np.ndarray, shape (..., n_filters, n_frames), dtype of ``y``
        ``n_frames = ceil(n_samples / hop_length)``; rows by *decreasing*
        frequency (kymatio's filter order; flip both outputs to plot with
        low frequencies at the bottom, or use ``origin='upper'``).
    freqs : np.ndarray, shape (n_filters,), float64
        Centre frequency of each row, in Hz if ``sr`` is given, else cycles per sample.

    Raises
    ------
    ParameterError
        Bad ``y``, J or Q; J too large for the signal; ``hop_length`` not a
        power of 2 or longer than the signal.

    Notes
    -----
    The signal is reflect-padded (as the scattering) beyond the reach of the
    widest wavelet; each wavelet is applied over its band only, folded to the
    frame rate before a short inverse FFT; all cores. A wavelet whose band
    exceeds the frame rate's Nyquist frequency is still sampled exactly
    (the modulus at those instants), but its frames alias any faster
    envelope; use ``hop_length=1`` for a faithful picture of fast transients.
    On a CuPy array it runs on the array's GPU and returns a CuPy array
    (``freqs`` stays NumPy).

    Examples
    --------
    >>> import numpy as np
    >>> from modspec.features.scattering import scalogram
    >>> t = np.arange(8192) / 16000
    >>> y = np.sin(2 * np.pi * 1000 * t)
    >>> S, freqs = scalogram(y, J=8, Q=8, hop_length=64, sr=16000)
    >>> S.shape, round(float(freqs[S[:, 64].argmax()]))  # the wavelet nearest 1 kHz
    ((54, 128), 1036)
    """
    check_audio(y)
    n_samples = y.shape[-1]
    J, Q, _ = _check_scales(n_samples, J, Q, None)
    k = _check_hop(hop_length, n_samples)
    sr = check_sample_rate("sr", sr, allow_none=True)
    key = _scalogram_geometry(n_samples, J, Q[0], k, y.dtype)
    plan = cpu_scattering.scalogram_plan(key, J, (Q[0], 1), None, k, y.dtype)
    y2, lead = _rows(y)
    out = _pipelines(y).scalogram(y2, plan)
    freqs = filters.wavelet_geometry(J, Q[0]).xi.copy()
    if sr is not None:
        freqs *= sr
    return out.reshape(lead + out.shape[1:]), freqs


# --------------------------------------------------------------------------- joint time-frequency scattering

_FORMATS = ("time", "joint")


def _jtfs_n_fr(J, Q1, J_fr, F):
    """kymatio's N_padded_fr: (J + 1) Q1 rows plus 8 min(F, 2**J_fr), rounded down to a multiple of 2**J_fr.

    With F > 2**J_fr that length need not be a multiple of the averaging's
    subsampling 2**floor(log2 F) (kymatio then fails); it is then rounded down
    to a multiple of that instead, which still leaves more than 8 rows of padding.
    """
    n = (J + 1) * Q1 + 8 * min(F, 2**J_fr)
    n_padded = n // 2**J_fr * 2**J_fr
    step = 2 ** int(math.floor(math.log2(F)))
    return n_padded if n_padded % step == 0 else n // step * step


def _check_jtfs(n_samples, J, Q, T, J_fr, Q_fr, F, format):
    """Validated (J, (Q1, Q2), T, J_fr, Q_fr, F, n_fr_padded) of a jTFS; n_samples=None skips the length checks."""
    if n_samples is None:
        J, Q, T = filters._check_J(J), filters._check_Q(Q), filters._check_T(T, filters._check_J(J))
    else:
        J, Q, T = _check_scales(n_samples, J, Q, T)
    if isinstance(J_fr, bool) or not isinstance(J_fr, numbers.Integral) or J_fr < 1:
        raise ParameterError(f"J_fr={J_fr!r} must be a positive integer (the largest frequential scale is 2**J_fr rows)")
    if isinstance(Q_fr, bool) or not isinstance(Q_fr, numbers.Integral) or Q_fr < 1:
        raise ParameterError(f"Q_fr={Q_fr!r} must be a positive integer (frequential wavelets per octave)")
    n_input = (J + 1) * Q[0]
    if F is None:
        F = 2**J_fr
    elif isinstance(F, bool) or not isinstance(F, numbers.Integral) or not 1 <= F <= n_input:
        raise ParameterError(
            f"F={F!r} must be None (2**J_fr) or an integer from 1 to (J + 1) * Q1 = {n_input} "
            "(the frequential averaging width, in first-order wavelets)"
        )
    if 2**J_fr > n_input:
        raise ParameterError(f"J_fr={J_fr} is too large: 2**J_fr must not exceed (J + 1) * Q1 = {n_input}")
    if format not in _FORMATS:
        raise ParameterError(f"format={format!r} is not one of {_FORMATS}")
    if format == "joint" and F > 2**J_fr:
        raise ParameterError(
            f"format='joint' needs F <= 2**J_fr (got F={F}, J_fr={J_fr}): the spin-0 paths are subsampled by "
            "2**J_fr and the others by F, so they do not stack; use format='time'"
        )
    g1, g2 = filters.wavelet_geometry(J, Q[0]), filters.wavelet_geometry(J, Q[1])
    used = [int(j2) for j2 in g2.j if (g1.j < j2).any()]
    log2_T = math.floor(math.log2(T))
    if used and max(used) > log2_T:
        raise ParameterError(
            f"T={T} is too small for J={J}: second-order wavelets are subsampled by up to 2**{max(used)}, "
            f"more than the output's 2**{log2_T}; use T >= {2 ** max(used)}"
        )
    return J, Q, T, int(J_fr), int(Q_fr), int(F), _jtfs_n_fr(J, Q[0], J_fr, F)


@functools.lru_cache(maxsize=32)
def _jtfs_layout(J, Q, T, J_fr, Q_fr, F, n_fr_padded):
    """The paths of a jTFS in kymatio's output order: (order, n2, n_fr, n1_max, n1_stride) per path."""
    g1, g2 = filters.wavelet_geometry(J, Q[0]), filters.wavelet_geometry(J, Q[1])
    bank_fr = filters.frequential_filterbank(n_fr_padded, J_fr, Q_fr, F)
    log2_F = bank_fr.log2_F

    def stride(n_fr):
        return 2 ** int(bank_fr.j[n_fr]) if bank_fr.spin[n_fr] == 0 else 2**log2_F

    n1_count = len(g1.xi)
    paths = [(1, None, n_fr, n1_count, stride(n_fr)) for n_fr in range(len(bank_fr.xi)) if bank_fr.spin[n_fr] >= 0]
    for n2, j2 in enumerate(g2.j.tolist()):
        m = int((g1.j < j2).sum())
        if m:
            paths += [(2, n2, n_fr, m, stride(n_fr)) for n_fr in range(len(bank_fr.xi))]
    return tuple(paths)


@_backend.on_input_device
def jtfs(y, *, J, J_fr, Q, Q_fr=1, T=None, F=None, format="time", compact=True):
    r"""Joint time-frequency scattering (jTFS): kymatio's ``TimeFrequencyScattering`` (development branch).

    The scalogram ``U1[n1](t) = |y * psi1[n1]|`` is filtered jointly in time
    and in log-frequency (along ``n1``):

    - order 0: ``y * phi_T``;
    - order 1: ``|S1 * psi_fr[n_fr]|`` along ``n1`` with ``S1 = U1 * phi_T``,
      for the spin-0 low-pass and the spin +1 wavelets;
    - order 2: ``||U1 * psi2[n2]| * psi_fr[n_fr]| * phi_T`` (time, then
      log-frequency, modulus, then averaged in time) for every second-order
      wavelet with ``j2 > j1`` and every frequential filter of both spins,

    then averaged along ``n1`` by a low-pass of width ``F`` (spinned paths)
    and subsampled: by ``2**floor(log2 T)`` in time, by ``2**floor(log2 F)``
    (``2**J_fr`` for spin 0) along ``n1``.

    Parameters
    ----------
    y : np.ndarray, shape (..., n_samples), float32 or float64
        Signals, at least ``2**J`` (and ``T``) samples long.
    J : int > 0
        Scale of the largest temporal wavelet, ``2**J`` samples.
    J_fr : int > 0
        Scale of the largest frequential wavelet, ``2**J_fr`` first-order
        wavelets (``2**J_fr <= (J + 1) Q1``).
    Q : int or tuple of int
        Temporal wavelets per octave: ``Q1`` (then ``Q2 = 1``) or ``(Q1, Q2)``.
    Q_fr : int > 0
        Frequential wavelets per octave.
    T : int > 0 or None
        Temporal averaging scale in samples (default ``2**J``).
    F : int > 0 or None
        Frequential averaging scale in first-order wavelets (default ``2**J_fr``).
    format : {'time', 'joint'}
        ``'time'``: one row per path ``(n1[, n2], n_fr)``, orders 0, 1, 2.
        ``'joint'``: one time-frequency image per path ``(n_fr,)`` or
        ``(n2, n_fr)``, orders 1 and 2 (needs ``F <= 2**J_fr``).
    compact : bool
        Reflect-pad to a shorter length beyond the filters' reach (same
        numbers to rounding, faster); False pads exactly as kymatio.

    Returns
    -------
    np.ndarray, dtype of ``y``
        ``format='time'``: shape (..., n_paths, n_frames), rows in kymatio's
        array order (order 0; order 1 by n_fr then n1; order 2 by n2, n_fr,
        n1). ``format='joint'``: shape (..., n_paths, n_rows, n_frames); the
        log-frequency axis is not unpadded, as kymatio (row ``i`` is
        ``n1 = i * n1_step``; rows at ``n1 >= n1_stop`` hold the small
        response of the zero padding). :func:`jtfs_meta` describes each path.

    Raises
    ------
    ParameterError
        Bad ``y``, J, Q, T (as :func:`scattering`), J_fr, Q_fr, F or format;
        ``T`` below the subsampling of the second-order wavelets;
        ``format='joint'`` with ``F > 2**J_fr``.

    See Also
    --------
    jtfs_meta : the order, spin, indices and scales of each path.
    jtfs_tensor : Raghavan's 3-D input: S2 / S1, the stronger spin.
    modspec.nn.TimeFrequencyScattering : the same in torch, differentiable.

    Notes
    -----
    Same numbers as kymatio's development branch (0.4.0.dev0; float64
    ~1e-15 relative to each order's maximum with ``compact=False``), with
    its energy convention (filters of subsampled signals are periodised
    with a *sum*; :func:`scattering` follows 0.3.0's mean) and its labelling
    of the spin-0 rows by multiples of ``2**J_fr`` even when ``F`` subsamples
    them more finely.

    The frequential filtering of a block of ``m`` rows (zero-padding, FFT,
    wavelet, subsampling, inverse FFT) is a fixed complex matrix; all the
    filters' matrices are stacked so that each second-order block is one
    BLAS product. First-order moduli are computed once, at their alias-free
    rate, and feed every second-order wavelet. On a CuPy array the same plan
    runs on the array's GPU (cuFFT, cuBLAS and the numba.cuda kernels of
    :mod:`modspec.kernels.gpu_scattering`) and the result is a CuPy array.

    Examples
    --------
    >>> import numpy as np
    >>> from modspec.features.scattering import jtfs, jtfs_meta
    >>> y = np.random.default_rng(0).standard_normal(4096)
    >>> S = jtfs(y, J=6, J_fr=2, Q=(8, 2))
    >>> meta = jtfs_meta(J=6, J_fr=2, Q=(8, 2))
    >>> S.shape, len(meta['key']), meta['key'][1], sorted(set(meta['spin'][meta['order'] == 2].tolist()))
    ((447, 64), 447, (0, 0), [-1.0, 0.0, 1.0])
    """
    check_audio(y)
    xp = _backend.get_array_module(y)
    n_samples = y.shape[-1]
    J, Q, T, J_fr, Q_fr, F, n_fr_padded = _check_jtfs(n_samples, J, Q, T, J_fr, Q_fr, F, format)
    key, fits = _scattering_geometry(n_samples, J, Q, T, 2, y.dtype, bool(compact))
    _warn_support(fits, n_samples, T)
    plan = cpu_jtfs.jtfs_plan(key, J, Q, T, J_fr, Q_fr, F, n_fr_padded, format, y.dtype)
    y2, lead = _rows(y)
    S0, paths = (cpu_jtfs if xp is np else _pipelines(y)).jtfs(y2, plan)
    if format == "joint":
        out = xp.stack([coef for *_, coef in paths], axis=1)
    else:
        out = xp.concatenate([S0[:, None]] + [coef for *_, coef in paths], axis=1)
    return out.reshape(lead + out.shape[1:])


def jtfs_meta(*, J, J_fr, Q, Q_fr=1, T=None, F=None, format="time"):
    """What each path of :func:`jtfs` is, in the order of its output.

    Parameters
    ----------
    J, J_fr, Q, Q_fr, T, F, format
        As :func:`jtfs`.

    Returns
    -------
    dict
        One entry per output path (``format='time'``: per row; ``'joint'``:
        per image):

        - ``'order'``: (C,) int, 0, 1 or 2;
        - ``'key'``: list of tuples, kymatio's path keys: ``()``,
          ``(n1, n_fr)``, ``(n1, n2, n_fr)`` (time) or ``(n_fr,)``,
          ``(n2, n_fr)`` (joint);
        - ``'n'``: (C, 2) float, ``(n1, n2)`` (time) or ``(nan, n2)`` (joint);
        - ``'n_fr'``: (C,) float, the frequential filter index;
        - ``'xi'``, ``'sigma'``, ``'j'``: (C, 2) float, centre frequency and
          bandwidth in cycles per sample and scale of the temporal wavelets at
          orders 1 and 2 (column 0 is NaN in ``'joint'``, where n1 varies);
        - ``'xi_fr'``, ``'sigma_fr'``, ``'j_fr'``: (C,) float, the same for the
          frequential filter, in cycles per first-order wavelet;
        - ``'spin'``: (C,) float, the sign of ``xi_fr``: 0, +1 (up), -1 (down);
        - ``'joint'`` only: ``'n1_start'``, ``'n1_stop'``, ``'n1_step'``: (C,) int,
          the ``n1`` of the image rows (``range(start, stop, step)``).

        NaN where a path has no such filter (order 0, or no second order).

    Examples
    --------
    >>> from modspec.features.scattering import jtfs_meta
    >>> meta = jtfs_meta(J=6, J_fr=2, Q=(8, 2), format='joint')
    >>> len(meta['key']), meta['key'][:2], int(meta['n1_step'][0]), int(meta['n1_stop'][0])
    (67, [(0,), (1,)], 4, 38)
    """
    J, Q, T, J_fr, Q_fr, F, n_fr_padded = _check_jtfs(None, J, Q, T, J_fr, Q_fr, F, format)
    g1, g2 = filters.wavelet_geometry(J, Q[0]), filters.wavelet_geometry(J, Q[1])
    bank_fr = filters.frequential_filterbank(n_fr_padded, J_fr, Q_fr, F)
    nan = math.nan
    rows = []  # (order, key, n1, n2, n_fr, n1 range)
    if format == "time":
        rows.append((0, (), nan, nan, nan, None))
    for order, n2, n_fr, n1_max, stride in _jtfs_layout(J, Q, T, J_fr, Q_fr, F, n_fr_padded):
        n2v = nan if n2 is None else n2
        tail = (n_fr,) if n2 is None else (n2, n_fr)
        if format == "joint":
            rows.append((order, tail, nan, n2v, n_fr, range(0, n1_max, stride)))
        else:
            rows += [(order, (n1,) + tail, n1, n2v, n_fr, None) for n1 in range(0, n1_max, stride)]
    meta = {
        "order": np.array([r[0] for r in rows]),
        "key": [r[1] for r in rows],
        "n": np.array([[r[2], r[3]] for r in rows], dtype=np.float64),
        "n_fr": np.array([r[4] for r in rows], dtype=np.float64),
    }
    for field in ("xi", "sigma", "j"):
        column = np.full((len(rows), 2), nan)
        for order, geometry in enumerate((g1, g2)):
            index = meta["n"][:, order]
            ok = ~np.isnan(index)
            column[ok, order] = np.asarray(getattr(geometry, field), dtype=np.float64)[index[ok].astype(int)]
        meta[field] = column
        fr = np.full(len(rows), nan)
        ok = ~np.isnan(meta["n_fr"])
        fr[ok] = np.asarray(getattr(bank_fr, field), dtype=np.float64)[meta["n_fr"][ok].astype(int)]
        meta[field + "_fr"] = fr
    meta["spin"] = np.sign(meta["xi_fr"])
    if format == "joint":
        meta["n1_start"] = np.array([r[5].start for r in rows])
        meta["n1_stop"] = np.array([r[5].stop for r in rows])
        meta["n1_step"] = np.array([r[5].step for r in rows])
    return meta


@_backend.on_input_device
def jtfs_tensor(y, *, J, J_fr, Q, Q_fr=1, T=None, F=None, eps=1e-10, return_spin=False, compact=True):
    r"""Raghavan's jTFS input for a 3-D CNN: S2 normalised by S1, the spin with the larger energy.

    From :func:`jtfs` (``format='time'``): every spinned second-order path
    ``(n1, n2, n_fr)`` is divided by the first-order spin-0 coefficient of the
    same ``n1`` (the scalogram averaged in time and log-frequency), which
    keeps only the temporal and frequential *variation*; the ratios are
    averaged over ``n1``. Of the two spins (up, down), the one whose
    second-order paths carry more energy (sum of squares, per signal) is kept.

    Parameters
    ----------
    y : np.ndarray, shape (..., n_samples), float32 or float64
        Signals (a CuPy array: computed on its GPU, CuPy results).
    J, J_fr, Q, Q_fr, T, F, compact
        As :func:`jtfs`.
    eps : float >= 0
        Added to S1 before dividing, relative to each signal's largest S1.
    return_spin : bool
        Also return the spin kept for each signal.

    Returns
    -------
    tensor : np.ndarray, shape (..., n_frames, n_temporal_scales, n_frequential_scales)
        ``n_temporal_scales``: second-order wavelets ``n2`` with any ``j1 < j2``
        (increasing scale); ``n_frequential_scales``: frequential wavelets of
        one spin (increasing scale).
    spin : np.ndarray, shape (...), int8
        +1 or -1, only with ``return_spin=True``.

    Raises
    ------
    ParameterError
        As :func:`jtfs`; a negative ``eps``.

    Examples
    --------
    >>> import numpy as np
    >>> from modspec.features.scattering import jtfs_tensor
    >>> t = np.arange(8192) / 8000
    >>> up = np.sin(2 * np.pi * 100 * (2 ** (4 * t) - 1) / (4 * np.log(2)))  # glissando up
    >>> X, spin = jtfs_tensor(up, J=6, J_fr=2, Q=(8, 2), return_spin=True)
    >>> X.shape, int(spin)
    ((128, 9, 3), 1)
    """
    eps = float(eps)
    if not eps >= 0:
        raise ParameterError(f"eps={eps!r} must be >= 0")
    S = jtfs(y, J=J, J_fr=J_fr, Q=Q, Q_fr=Q_fr, T=T, F=F, format="time", compact=compact)
    meta = jtfs_meta(J=J, J_fr=J_fr, Q=Q, Q_fr=Q_fr, T=T, F=F, format="time")
    order, spin_of, n = meta["order"], meta["spin"], meta["n"]
    first = np.flatnonzero((order == 1) & (spin_of == 0))
    first_n1 = n[first, 0]
    xp = _backend.get_array_module(S)
    S1 = S[..., xp.asarray(first), :]
    S1 = S1 + eps * S1.max(axis=(-2, -1), keepdims=True)
    n2_values = sorted(set(n[order == 2, 1].astype(int).tolist()))
    n_fr_pos = sorted(set(meta["n_fr"][(order == 2) & (spin_of == 1)].astype(int).tolist()))
    n_fr_neg = sorted(set(meta["n_fr"][(order == 2) & (spin_of == -1)].astype(int).tolist()))
    lead, n_frames = S.shape[:-2], S.shape[-1]
    tensors, energies = [], []
    for n_frs in (n_fr_pos, n_fr_neg):
        tensor = xp.zeros(lead + (n_frames, len(n2_values), len(n_frs)), dtype=S.dtype)
        energy = xp.zeros(lead, dtype=xp.float64)
        for a, n2 in enumerate(n2_values):
            for b, n_fr in enumerate(n_frs):
                rows = np.flatnonzero((order == 2) & (n[:, 1] == n2) & (meta["n_fr"] == n_fr))
                # The first-order row of the same n1 (the nearest on its grid when the strides differ).
                nearest = np.abs(first_n1[None, :] - n[rows, 0][:, None]).argmin(axis=1)
                S2 = S[..., xp.asarray(rows), :]
                energy += (S2.astype(xp.float64) ** 2).sum(axis=(-2, -1))
                tensor[..., :, a, b] = (S2 / S1[..., xp.asarray(nearest), :]).mean(axis=-2)
        tensors.append(tensor)
        energies.append(energy)
    up = energies[0] >= energies[1]
    out = xp.where(up[..., None, None, None], tensors[0], tensors[1])
    if return_spin:
        return out, xp.where(up, 1, -1).astype(xp.int8)
    return out
