"""Filter design: pure NumPy, no application.

Every designer here is pure: results are memoised in-process on their
arguments and returned read-only, so the CPU kernels, the GPU backend and the
torch modules all share one design and nothing is redesigned per call.
Frequencies are in Hz with the sample rate ``sr``.
"""

import functools
import math
import numbers
from typing import NamedTuple

import numpy as np
import scipy.fft

from modspec.errors import (
    ParameterError,
    check_dtype,
    check_positive_int,
    check_real,
    check_sample_rate,
    warn_user,
)

__all__ = [
    "FrequentialBank",
    "HarmonicBank",
    "ScatteringBank",
    "SincBank",
    "WaveletGeometry",
    "a_weighting",
    "fft_frequencies",
    "frequential_filterbank",
    "get_window",
    "harmonic",
    "harmonic_f0",
    "harmonic_fft_frequencies",
    "harmonic_triangles",
    "hz_to_mel",
    "mel",
    "mel_frequencies",
    "mel_to_hz",
    "midi_to_hz",
    "modulation_fir_init",
    "modulation_sinc",
    "morlet_1d",
    "periodize_fourier",
    "scattering_filterbank",
    "sinc_bandpass",
    "sinc_constraints",
    "wavelet_geometry",
]

# Slaney's mel scale (Auditory Toolbox): linear below 1 kHz, logarithmic above.
_SLANEY_F_SP = 200.0 / 3
_SLANEY_MIN_LOG_HZ = 1000.0
_SLANEY_MIN_LOG_MEL = _SLANEY_MIN_LOG_HZ / _SLANEY_F_SP
_SLANEY_LOGSTEP = np.log(6.4) / 27.0


def _readonly(array):
    array.setflags(write=False)
    return array


def hz_to_mel(frequencies, *, htk=False):
    """Convert frequencies in Hz to mels.

    Parameters
    ----------
    frequencies : float or array_like
        Frequencies in Hz.
    htk : bool
        HTK's formula ``2595 log10(1 + f / 700)`` if True, else Slaney's
        (linear below 1 kHz, logarithmic above), as librosa.

    Returns
    -------
    mels : float or np.ndarray (float64)
        Same shape as ``frequencies``.
    """
    f = np.asanyarray(frequencies, dtype=np.float64)
    if htk:
        return 2595.0 * np.log10(1.0 + f / 700.0)
    mels = f / _SLANEY_F_SP
    log_region = f >= _SLANEY_MIN_LOG_HZ
    if f.ndim:
        mels[log_region] = _SLANEY_MIN_LOG_MEL + np.log(f[log_region] / _SLANEY_MIN_LOG_HZ) / _SLANEY_LOGSTEP
    elif log_region:
        mels = _SLANEY_MIN_LOG_MEL + np.log(f / _SLANEY_MIN_LOG_HZ) / _SLANEY_LOGSTEP
    return mels


def mel_to_hz(mels, *, htk=False):
    """Convert mels to frequencies in Hz (inverse of :func:`hz_to_mel`).

    Parameters
    ----------
    mels : float or array_like
        Mel values.
    htk : bool
        HTK's formula if True, else Slaney's.

    Returns
    -------
    frequencies : float or np.ndarray (float64)
        Frequencies in Hz, same shape as ``mels``.
    """
    m = np.asanyarray(mels, dtype=np.float64)
    if htk:
        return 700.0 * (10.0 ** (m / 2595.0) - 1.0)
    freqs = _SLANEY_F_SP * m
    log_region = m >= _SLANEY_MIN_LOG_MEL
    if m.ndim:
        freqs[log_region] = _SLANEY_MIN_LOG_HZ * np.exp(_SLANEY_LOGSTEP * (m[log_region] - _SLANEY_MIN_LOG_MEL))
    elif log_region:
        freqs = _SLANEY_MIN_LOG_HZ * np.exp(_SLANEY_LOGSTEP * (m - _SLANEY_MIN_LOG_MEL))
    return freqs


@functools.lru_cache(maxsize=64)
def _mel_frequencies(n_mels, fmin, fmax, htk):
    mels = np.linspace(hz_to_mel(fmin, htk=htk), hz_to_mel(fmax, htk=htk), n_mels)
    return _readonly(mel_to_hz(mels, htk=htk))


def mel_frequencies(n_mels=128, *, fmin=0.0, fmax=11025.0, htk=False):
    """Centre frequencies of ``n_mels`` points evenly spaced on the mel scale.

    Parameters
    ----------
    n_mels : int > 0
        Number of points.
    fmin, fmax : float >= 0
        Lowest and highest frequency in Hz.
    htk : bool
        HTK mel scale if True, else Slaney's.

    Returns
    -------
    frequencies : np.ndarray, shape (n_mels,), float64, read-only

    Notes
    -----
    Memoised on its arguments. Equal to ``librosa.mel_frequencies``.
    """
    n_mels = check_positive_int("n_mels", n_mels)
    if fmin < 0 or fmax < fmin:
        raise ParameterError(f"fmin={fmin}, fmax={fmax}: need 0 <= fmin <= fmax (Hz)")
    return _mel_frequencies(n_mels, float(fmin), float(fmax), bool(htk))


@functools.lru_cache(maxsize=64)
def _fft_frequencies(sr, n_fft):
    return _readonly(np.fft.rfftfreq(n=n_fft, d=1.0 / sr))


def fft_frequencies(*, sr=22050, n_fft=2048):
    """Frequencies in Hz of the ``1 + n_fft // 2`` bins of a real FFT.

    Parameters
    ----------
    sr : float > 0
        Sample rate in Hz.
    n_fft : int > 0
        FFT size in samples.

    Returns
    -------
    frequencies : np.ndarray, shape (1 + n_fft // 2,), float64, read-only
    """
    _check_sr(sr)
    return _fft_frequencies(float(sr), check_positive_int("n_fft", n_fft))


def _check_sr(sr, name="sr"):
    return float(check_sample_rate(name, sr))


def _normalize_rows(weights, norm):
    """librosa.util.normalize along the last axis: p-norm, inf, -inf or 0 (count)."""
    magnitude = np.abs(weights)
    if norm == np.inf:
        length = magnitude.max(axis=-1, keepdims=True)
    elif norm == -np.inf:
        length = magnitude.min(axis=-1, keepdims=True)
    elif norm == 0:
        length = np.count_nonzero(magnitude, axis=-1, keepdims=True).astype(weights.dtype)
    else:
        length = np.sum(magnitude**norm, axis=-1, keepdims=True) ** (1.0 / norm)
    length[length < np.finfo(weights.dtype).tiny] = 1.0  # empty rows stay zero
    return weights / length


@functools.lru_cache(maxsize=64)
def _mel(sr, n_fft, n_mels, fmin, fmax, htk, norm, dtype):
    fft_freqs = _fft_frequencies(sr, n_fft)
    mel_f = _mel_frequencies(n_mels + 2, fmin, fmax, htk)
    fdiff = np.diff(mel_f)
    ramps = np.subtract.outer(mel_f, fft_freqs)
    lower = -ramps[:-2] / fdiff[:-1, None]
    upper = ramps[2:] / fdiff[1:, None]
    # Cast before normalising, like librosa, so float32 banks match it bit for bit.
    weights = np.maximum(0.0, np.minimum(lower, upper)).astype(dtype)
    if norm == "slaney":
        # Slaney's area normalisation: each triangle has unit area in Hz.
        weights *= (2.0 / (mel_f[2:] - mel_f[:-2]))[:, None]
    elif norm is not None:
        weights = _normalize_rows(weights, norm).astype(dtype)
    # librosa's test: a band is empty if it has no weight and does not start at 0 Hz.
    empty = np.flatnonzero((mel_f[:-2] != 0) & ~(weights.max(axis=1) > 0))
    return _readonly(weights), tuple(empty.tolist())


def mel(*, sr, n_fft, n_mels=128, fmin=0.0, fmax=None, htk=False, norm="slaney", dtype=np.float32):
    """Triangular mel filterbank, equal to ``librosa.filters.mel``.

    Parameters
    ----------
    sr : float > 0
        Sample rate in Hz.
    n_fft : int > 0
        FFT size in samples; the bank covers its ``1 + n_fft // 2`` bins.
    n_mels : int > 0
        Number of mel bands.
    fmin : float >= 0
        Lowest band edge in Hz.
    fmax : float or None
        Highest band edge in Hz, at most ``sr / 2``; None means ``sr / 2``.
    htk : bool
        HTK mel scale if True, else Slaney's.
    norm : None, 'slaney' or number
        'slaney' divides each triangle by its width in Hz (unit area); a number
        p normalises each band to unit p-norm (``np.inf`` for max-norm); None
        leaves the peak at 1.
    dtype : np.float32 or np.float64
        Output dtype (librosa's default is float32).

    Returns
    -------
    weights : np.ndarray, shape (n_mels, 1 + n_fft // 2), read-only

    Warns
    -----
    UserWarning
        If a band gets no FFT bin (n_fft too small for n_mels), as librosa does.

    Notes
    -----
    Memoised on its arguments; the result is shared, hence read-only
    (``.copy()`` it to modify).

    Examples
    --------
    >>> import modspec.filters
    >>> modspec.filters.mel(sr=16000, n_fft=512, n_mels=96).shape
    (96, 257)
    """
    sr = _check_sr(sr)
    n_fft = check_positive_int("n_fft", n_fft)
    n_mels = check_positive_int("n_mels", n_mels)
    nyquist = sr / 2
    fmax = nyquist if fmax is None else float(fmax)
    if fmax > nyquist:
        raise ParameterError(f"fmax={fmax} Hz is above the Nyquist frequency sr/2={nyquist} Hz; use fmax <= sr/2")
    if fmin < 0 or fmin >= fmax:
        raise ParameterError(f"fmin={fmin} Hz must satisfy 0 <= fmin < fmax={fmax} Hz")
    if isinstance(norm, str):
        if norm != "slaney":
            raise ParameterError(f"norm={norm!r} is not supported; use None, 'slaney' or a number (p-norm)")
    elif norm is not None:
        if isinstance(norm, bool) or not np.isscalar(norm) or np.isnan(norm) or norm < 0 and norm != -np.inf:
            raise ParameterError(f"norm={norm!r} is not supported; use None, 'slaney', np.inf, -np.inf or p >= 0")
        norm = float(norm)
    weights, empty = _mel(sr, n_fft, n_mels, float(fmin), fmax, bool(htk), norm, check_dtype(dtype))
    if empty:
        warn_user(
            f"Empty filters detected in mel frequency basis: bands {list(empty)} of n_mels={n_mels} get no "
            f"FFT bin with sr={sr}, n_fft={n_fft}. Some channels will produce empty responses. Try increasing "
            "n_fft or your sampling rate (and fmax), or reducing n_mels."
        )
    return weights


def a_weighting(frequencies, *, min_db=-80.0):
    """A-weighting (IEC 61672:2003) of frequencies in Hz, in dB, as ``librosa.A_weighting``.

    Parameters
    ----------
    frequencies : float or array_like
        Frequencies in Hz.
    min_db : float or None
        Floor of the weighting in dB; None keeps ``-inf`` at 0 Hz.

    Returns
    -------
    weights : np.ndarray (float64)
        Weighting in dB, same shape as ``frequencies``.
    """
    f_sq = np.asanyarray(frequencies, dtype=np.float64) ** 2.0
    const = np.array([12194.217, 20.598997, 107.65265, 737.86223]) ** 2.0
    with np.errstate(divide="ignore"):
        weights = 2.0 + 20.0 * (
            np.log10(const[0])
            + 2 * np.log10(f_sq)
            - np.log10(f_sq + const[0])
            - np.log10(f_sq + const[1])
            - 0.5 * np.log10(f_sq + const[2])
            - 0.5 * np.log10(f_sq + const[3])
        )
    return weights if min_db is None else np.maximum(min_db, weights)


@functools.lru_cache(maxsize=64)
def _window(window, win_length, n_fft, dtype):
    import scipy.signal

    if isinstance(window, tuple) and len(window) == 2 and window[0] == "array":
        w = np.asarray(window[1], dtype=np.float64)
    else:
        try:
            w = scipy.signal.get_window(window, win_length, fftbins=True)
        except (ValueError, TypeError) as err:
            raise ParameterError(f"window={window!r} is not a window scipy.signal.get_window knows: {err}") from None
    # Centre the window in the FFT frame, as librosa.util.pad_center.
    left = (n_fft - w.shape[0]) // 2
    padded = np.zeros(n_fft, dtype=np.float64)
    padded[left : left + w.shape[0]] = w
    return _readonly(padded.astype(dtype))


def get_window(window, n_fft, *, win_length=None, dtype=np.float64):
    """A periodic analysis window of ``win_length`` samples centred in ``n_fft``.

    Parameters
    ----------
    window : str, tuple or np.ndarray
        A name or (name, parameter) tuple for ``scipy.signal.get_window``
        (periodic, as librosa), or the window itself, of length ``win_length``.
    n_fft : int > 0
        Frame length in samples.
    win_length : int or None
        Window length in samples, ``<= n_fft``; None means ``n_fft``.
    dtype : np.float32 or np.float64

    Returns
    -------
    window : np.ndarray, shape (n_fft,), read-only
    """
    n_fft = check_positive_int("n_fft", n_fft)
    win_length = n_fft if win_length is None else check_positive_int("win_length", win_length)
    if win_length > n_fft:
        raise ParameterError(f"win_length={win_length} must be <= n_fft={n_fft}")
    if isinstance(window, (np.ndarray, list)):
        array = np.asarray(window, dtype=np.float64)
        if array.ndim != 1 or array.shape[0] != win_length:
            raise ParameterError(
                f"window array has shape {array.shape}; it must be 1-D of length win_length={win_length}"
            )
        if not np.isfinite(array).all():
            raise ParameterError("window array contains non-finite values")
        key = ("array", tuple(array.tolist()))
    else:
        key = window
    try:
        hash(key)
    except TypeError:
        raise ParameterError(f"window={window!r} must be a name, a (name, parameter) tuple or an array") from None
    return _window(key, win_length, n_fft, check_dtype(dtype))


# --------------------------------------------------------------------------- sinc band-pass banks


class SincBank(NamedTuple):
    """A bank of windowed-sinc band-pass FIR filters and its design.

    Attributes
    ----------
    filters : np.ndarray, shape (n_filters, kernel_size)
        Impulse responses (unit gain in the pass band), read-only.
    low_hz, high_hz : np.ndarray, shape (n_filters,)
        Low and high cut-off of each filter in Hz (after the constraints).
    """

    filters: np.ndarray
    low_hz: np.ndarray
    high_hz: np.ndarray


def _sinc_filters(low_hz, high_hz, kernel_size, rate):
    """g[n] = 2 f2 sinc(2 f2 n) - 2 f1 sinc(2 f1 n) (f in cycles/sample), Hamming-windowed.

    ``n`` runs symmetrically over the kernel (half-integers for an even size), so
    every filter is linear-phase; ``np.sinc(x) = sin(pi x) / (pi x)``.
    """
    n = np.arange(kernel_size) - (kernel_size - 1) / 2.0
    f1 = np.asarray(low_hz, dtype=np.float64)[:, None] / rate
    f2 = np.asarray(high_hz, dtype=np.float64)[:, None] / rate
    ideal = 2 * f2 * np.sinc(2 * f2 * n) - 2 * f1 * np.sinc(2 * f1 * n)
    return ideal * np.hamming(kernel_size)


def _check_cutoffs(low_hz, high_hz, nyquist, *, allow_zero_low, what):
    low_hz = np.asarray(low_hz, dtype=np.float64)
    high_hz = np.asarray(high_hz, dtype=np.float64)
    if low_hz.ndim != 1 or low_hz.shape != high_hz.shape or low_hz.size == 0:
        raise ParameterError(
            f"low_hz and high_hz must be 1-D of the same non-zero length, got shapes {low_hz.shape} and {high_hz.shape}"
        )
    low_ok = (low_hz >= 0) if allow_zero_low else (low_hz > 0)
    bad = ~(np.isfinite(low_hz) & np.isfinite(high_hz) & low_ok & (high_hz <= nyquist))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        interval = "[0, " if allow_zero_low else "(0, "
        raise ParameterError(
            f"cut-offs of {what} {i} are low_hz={float(low_hz[i])}, high_hz={float(high_hz[i])}: they must lie in "
            f"{interval}{nyquist}] Hz (the Nyquist frequency)"
        )
    crossed = low_hz >= high_hz
    if crossed.any():
        i = int(np.flatnonzero(crossed)[0])
        raise ParameterError(f"{what} {i} has low_hz={float(low_hz[i])} >= high_hz={float(high_hz[i])}; need f1 < f2")
    return low_hz, high_hz


def sinc_constraints(low_hz, high_hz, *, sr, min_low_hz=50.0, min_band_hz=50.0):
    """SincNet's constraints on cut-offs: a low cut-off of at least ``min_low_hz``, a band of at least ``min_band_hz``.

    ``f1 = clip(low_hz, min_low_hz, sr/2 - min_band_hz)`` and
    ``f2 = min(f1 + max(high_hz - low_hz, min_band_hz), sr/2)``: the map
    :class:`modspec.nn.SincConv` applies to its learned cut-offs (written
    with ``torch.clamp`` there), idempotent on cut-offs that satisfy it.

    Parameters
    ----------
    low_hz, high_hz : array_like, Hz
    sr : float > 0
        Sample rate in Hz.
    min_low_hz, min_band_hz : float >= 0

    Returns
    -------
    low, high : np.ndarray, float64, Hz
    """
    nyquist = sr / 2
    low = np.clip(np.asarray(low_hz, dtype=np.float64), min_low_hz, nyquist - min_band_hz)
    high = np.minimum(low + np.maximum(np.asarray(high_hz, dtype=np.float64) - low_hz, min_band_hz), nyquist)
    return low, high


@functools.lru_cache(maxsize=64)
def _sinc_bandpass(low_hz, high_hz, kernel_size, sr, dtype):
    low, high = np.array(low_hz), np.array(high_hz)
    return SincBank(_readonly(_sinc_filters(low, high, kernel_size, sr).astype(dtype)), _readonly(low), _readonly(high))


def sinc_bandpass(
    n_filters=80, kernel_size=256, *, sr, fmin=30.0, fmax=None, min_low_hz=50.0, min_band_hz=50.0, low_hz=None,
    high_hz=None, dtype=np.float64,
):
    """SincNet's band-pass filterbank (Ravanelli & Bengio 2018), as in Vahidi et al.'s 1-80-256-10 layer.

    Each filter is ``g[n] = 2 f2 sinc(2π f2 n) − 2 f1 sinc(2π f1 n)`` (frequencies
    in cycles per sample) times a Hamming window: an ideal band-pass [f1, f2]
    with unit pass-band gain, truncated to ``kernel_size`` taps.

    Parameters
    ----------
    n_filters : int > 0
        Number of filters K (80 in Vahidi et al. 2021).
    kernel_size : int > 0
        Taps per filter (256 = 16 ms at 16 kHz in Vahidi et al.).
    sr : float > 0
        Sample rate in Hz.
    fmin, fmax : float
        Range of the initial cut-offs in Hz: ``n_filters + 1`` edges evenly
        spaced on the (HTK) mel scale, filter k spanning edges k and k + 1, as
        SincNet. ``fmax=None`` means ``sr / 2 − (min_low_hz + min_band_hz)``
        (SincNet's choice).
    min_low_hz, min_band_hz : float >= 0
        SincNet's constraints: ``f1 >= min_low_hz`` and ``f2 − f1 >= min_band_hz``
        (``f2`` is then capped at ``sr / 2``).
    low_hz, high_hz : array_like, shape (n_filters,), optional
        Explicit cut-offs in Hz (e.g. learned ones) instead of the mel
        initialisation; the constraints are applied to them too.
    dtype : np.float32 or np.float64

    Returns
    -------
    SincBank
        ``filters`` (n_filters, kernel_size) and the cut-offs ``low_hz``,
        ``high_hz`` (n_filters,) in Hz.

    Raises
    ------
    ParameterError
        Cut-offs outside (0, sr/2] or with f1 >= f2, non-positive sizes.

    Notes
    -----
    Memoised on its arguments; the arrays are read-only.
    """
    sr = _check_sr(sr)
    kernel_size = check_positive_int("kernel_size", kernel_size)
    nyquist = sr / 2
    for name, value in (("min_low_hz", min_low_hz), ("min_band_hz", min_band_hz)):
        if not np.isfinite(value) or value < 0 or value >= nyquist:
            raise ParameterError(f"{name}={value!r} must be in [0, {nyquist}) Hz")
    if min_low_hz + min_band_hz >= nyquist:
        raise ParameterError(
            f"min_low_hz + min_band_hz = {min_low_hz + min_band_hz} Hz leaves no band below sr/2 = {nyquist} Hz"
        )
    if (low_hz is None) != (high_hz is None):
        raise ParameterError("give both low_hz and high_hz, or neither (mel-spaced initialisation)")
    if low_hz is None:
        n_filters = check_positive_int("n_filters", n_filters)
        fmax = nyquist - (min_low_hz + min_band_hz) if fmax is None else float(fmax)
        if not 0 < fmin < fmax <= nyquist:
            raise ParameterError(f"fmin={fmin}, fmax={fmax}: need 0 < fmin < fmax <= sr/2={nyquist} Hz")
        edges = mel_to_hz(np.linspace(hz_to_mel(fmin, htk=True), hz_to_mel(fmax, htk=True), n_filters + 1), htk=True)
        low_hz, high_hz = edges[:-1], edges[1:]
    low_hz, high_hz = _check_cutoffs(low_hz, high_hz, nyquist, allow_zero_low=False, what="sinc filter")
    low, high = sinc_constraints(low_hz, high_hz, sr=sr, min_low_hz=min_low_hz, min_band_hz=min_band_hz)
    return _sinc_bandpass(tuple(low.tolist()), tuple(high.tolist()), kernel_size, sr, check_dtype(dtype))


@functools.lru_cache(maxsize=64)
def _modulation_sinc(n_filters, kernel_size, frame_rate, min_mod_hz, max_mod_hz, dtype):
    edges = np.linspace(min_mod_hz, max_mod_hz, n_filters + 1)
    low, high = edges[:-1], edges[1:]
    filters = _sinc_filters(low, high, kernel_size, frame_rate).astype(dtype)
    return SincBank(_readonly(filters), _readonly(low), _readonly(high))


def modulation_sinc(n_filters=1, kernel_size=101, *, frame_rate, max_mod_hz=None, min_mod_hz=0.0, dtype=np.float64):
    """Band-pass temporal-modulation filters: windowed sincs on a linear frequency scale.

    TMNN (Ma & Stern 2022) filters each band's envelope at the spectrogram
    frame rate with ``kernel_size=101`` taps; SincModNet (Vahidi et al. 2021)
    filters the 1.6 kHz band envelopes with 128 taps. The ``n_filters`` bands
    tile ``[min_mod_hz, max_mod_hz]`` evenly (linear initialisation); a band
    starting at 0 Hz is a low-pass.

    Parameters
    ----------
    n_filters : int > 0
        Number of modulation filters M.
    kernel_size : int > 0
        Taps per filter.
    frame_rate : float > 0
        Sample rate of the envelopes in Hz (``sr / hop_length`` for a spectrogram).
    max_mod_hz : float or None
        Highest modulation frequency in Hz, at most ``frame_rate / 2``; None
        means ``frame_rate / 2``.
    min_mod_hz : float >= 0
        Lowest modulation frequency in Hz.
    dtype : np.float32 or np.float64

    Returns
    -------
    SincBank
        ``filters`` (n_filters, kernel_size), ``low_hz``, ``high_hz`` (n_filters,).

    Raises
    ------
    ParameterError
        If ``max_mod_hz`` exceeds the frame rate's Nyquist frequency, or on
        non-positive sizes.
    """
    frame_rate = _check_sr(frame_rate, "frame_rate")
    n_filters = check_positive_int("n_filters", n_filters)
    kernel_size = check_positive_int("kernel_size", kernel_size)
    nyquist = frame_rate / 2
    max_mod_hz = nyquist if max_mod_hz is None else float(max_mod_hz)
    if max_mod_hz > nyquist:
        raise ParameterError(
            f"max_mod_hz={max_mod_hz} Hz is above the Nyquist frequency of the frame rate "
            f"({frame_rate} Hz / 2 = {nyquist} Hz); lower it or raise the frame rate"
        )
    if not 0 <= min_mod_hz < max_mod_hz:
        raise ParameterError(f"min_mod_hz={min_mod_hz}, max_mod_hz={max_mod_hz}: need 0 <= min_mod_hz < max_mod_hz")
    return _modulation_sinc(n_filters, kernel_size, frame_rate, float(min_mod_hz), max_mod_hz, check_dtype(dtype))


@functools.lru_cache(maxsize=64)
def _modulation_fir_init(n_filters, kernel_size, n_positions, dtype):
    width = max(1, kernel_size // 2)
    starts = np.round(np.linspace(0, kernel_size - width, n_positions)).astype(int)
    filters = np.zeros((n_filters, kernel_size))
    window = np.hamming(width)
    for i in range(n_filters):
        start = starts[i % n_positions]
        filters[i, start : start + width] = window / window.sum()
    return _readonly(filters.astype(dtype))


def modulation_fir_init(n_filters=20, kernel_size=128, *, n_positions=5, dtype=np.float64):
    """ModNet's initial FIR modulation bank: Hamming windows at ``n_positions`` places.

    Vahidi et al. (2021) initialise each learnable FIR filter "as a Hamming
    window in one of 5 different positions across the filter". Here filter i
    holds a Hamming window of ``kernel_size // 2`` taps, normalised to unit
    sum (a smoothing low-pass), starting at offset ``i mod n_positions`` of
    ``n_positions`` offsets evenly spaced from 0 to ``kernel_size // 2``.

    Parameters
    ----------
    n_filters : int > 0
        Number of filters (20 in ModNet's 80-20-128-160 layer).
    kernel_size : int > 0
        Taps per filter (128).
    n_positions : int > 0
        Number of distinct window positions (5).
    dtype : np.float32 or np.float64

    Returns
    -------
    filters : np.ndarray, shape (n_filters, kernel_size), read-only
    """
    return _modulation_fir_init(
        check_positive_int("n_filters", n_filters),
        check_positive_int("kernel_size", kernel_size),
        check_positive_int("n_positions", n_positions),
        check_dtype(dtype),
    )


# --------------------------------------------------------------------------- harmonic filterbank


class HarmonicBank(NamedTuple):
    """Won et al.'s harmonic triangular filterbank and its design.

    Attributes
    ----------
    weights : np.ndarray, shape (n_harmonic, n_bands, 1 + n_fft // 2)
        Triangles over the FFT bins (peak 1), read-only.
    center_hz : np.ndarray, shape (n_harmonic, n_bands)
        Centre of each filter in Hz: harmonic h of the semitone grid's f0.
    bandwidth_hz : np.ndarray, shape (n_harmonic, n_bands)
        Full width at the base of each triangle in Hz, ``(0.1079 f + 24.7) / Q``.
    """

    weights: np.ndarray
    center_hz: np.ndarray
    bandwidth_hz: np.ndarray


def midi_to_hz(midi):
    """Frequency in Hz of MIDI note numbers (A4 = 69 = 440 Hz)."""
    return 440.0 * 2.0 ** ((np.asanyarray(midi, dtype=np.float64) - 69.0) / 12.0)


def harmonic_f0(*, sr, n_harmonic=6, semitone_scale=2):
    """The f0 grid of the harmonic filterbank: C1 up to the note nearest ``sr / (2 n_harmonic)``.

    Parameters
    ----------
    sr : float > 0
        Sample rate in Hz.
    n_harmonic : int > 0
        Harmonics per f0 (the highest harmonic stays below Nyquist).
    semitone_scale : int > 0
        Bands per semitone.

    Returns
    -------
    f0 : np.ndarray, shape (n_bands,), Hz
        ``n_bands = (high_midi − 24) · semitone_scale``, as Won et al.'s code.
    """
    sr = _check_sr(sr)
    n_harmonic = check_positive_int("n_harmonic", n_harmonic)
    semitone_scale = check_positive_int("semitone_scale", semitone_scale)
    low_midi = 24  # C1
    high_midi = int(np.round(12 * np.log2(sr / (2 * n_harmonic) / 440.0) + 69))
    n_bands = (high_midi - low_midi) * semitone_scale
    if n_bands <= 0:
        raise ParameterError(f"sr={sr} with n_harmonic={n_harmonic} leaves no band above C1; lower n_harmonic")
    return midi_to_hz(np.linspace(low_midi, high_midi, n_bands + 1)[:-1])


def harmonic_triangles(center_hz, bandwidth_hz, fft_freqs):
    """Triangles max(0, min(1 + 2(f − fc)/bw, 1 − 2(f − fc)/bw)) of each centre over ``fft_freqs``."""
    distance = 2.0 * (fft_freqs - center_hz[..., None]) / bandwidth_hz[..., None]
    return np.maximum(0.0, np.minimum(1.0 + distance, 1.0 - distance))


@functools.lru_cache(maxsize=32)
def _harmonic(sr, n_fft, n_harmonic, f0, Q, dtype):
    f0 = np.array(f0)
    centres = np.arange(1, n_harmonic + 1)[:, None] * f0[None, :]
    bandwidth = (0.1079 * centres + 24.7) / Q
    weights = harmonic_triangles(centres, bandwidth, harmonic_fft_frequencies(sr, n_fft)).astype(dtype)
    return HarmonicBank(_readonly(weights), _readonly(centres), _readonly(bandwidth))


def harmonic_fft_frequencies(sr, n_fft):
    """Won et al.'s FFT bin frequencies, ``linspace(0, sr // 2, n_fft // 2 + 1)`` Hz.

    These equal :func:`fft_frequencies` for an even ``sr`` and ``n_fft``.
    """
    return np.linspace(0, sr // 2, n_fft // 2 + 1)


def harmonic(*, sr, n_fft, n_harmonic=6, semitone_scale=2, Q=1.0, f0=None, dtype=np.float64):
    """Won et al.'s (2020) harmonic triangular filterbank over the FFT bins.

    Centre frequencies are the semitone grid from C1 up to ``sr / (2 n_harmonic)``
    (``semitone_scale`` bands per semitone) times each harmonic 1..n; each
    filter is a triangle of base width ``(0.1079 f + 24.7) / Q`` Hz (the ERB
    of f divided by Q) and peak 1, as the authors' ``HarmonicSTFT``.

    Parameters
    ----------
    sr : float > 0
        Sample rate in Hz.
    n_fft : int > 0
        FFT size; the bank covers ``1 + n_fft // 2`` bins.
    n_harmonic : int > 0
        Number of harmonics (6 or 1 in Won et al. and TMNN).
    semitone_scale : int > 0
        Bands per semitone (2).
    Q : float > 0
        Quality factor dividing the bandwidth (learnable in the papers; 1 at init).
    f0 : array_like, shape (n_bands,), optional
        Fundamental of each band in Hz (e.g. learned ones); default
        :func:`harmonic_f0`. Harmonic h of band b is centred on ``h * f0[b]``.
    dtype : np.float32 or np.float64

    Returns
    -------
    HarmonicBank
        ``weights`` (n_harmonic, n_bands, 1 + n_fft // 2), ``center_hz`` and
        ``bandwidth_hz`` (n_harmonic, n_bands).

    Notes
    -----
    Memoised on its arguments; the arrays are read-only.
    """
    sr = _check_sr(sr)
    n_fft = check_positive_int("n_fft", n_fft)
    n_harmonic = check_positive_int("n_harmonic", n_harmonic)
    Q = check_real("Q", Q, positive=True)
    if f0 is None:
        f0 = harmonic_f0(sr=sr, n_harmonic=n_harmonic, semitone_scale=semitone_scale)
    else:
        f0 = np.asarray(f0, dtype=np.float64)
        if f0.ndim != 1 or f0.size == 0 or not np.all(np.isfinite(f0) & (f0 > 0) & (f0 <= sr / 2)):
            raise ParameterError(f"f0 must be a non-empty 1-D array of frequencies in (0, sr/2={sr / 2}] Hz, got {f0!r}")
    return _harmonic(sr, n_fft, n_harmonic, tuple(f0.tolist()), Q, check_dtype(dtype))


# --------------------------------------------------------------------------- Morlet wavelets (scattering)
#
# kymatio 0.3.0's design (scattering1d/filter_bank.py), reproduced to rounding:
# geometry first (centre frequencies xi, bandwidths sigma and the largest
# alias-free subsampling j of each wavelet), then synthesis of the real
# Fourier-domain filters on a grid of N bins. Frequencies are in cycles per
# sample (kymatio's convention), the Nyquist frequency being 0.5.


_R_PSI = math.sqrt(0.5)  # kymatio's r_psi: adjacent wavelets cross at 1/sqrt(2) of their peak


class WaveletGeometry(NamedTuple):
    """Centre frequencies, bandwidths and subsampling scales of a Morlet filterbank.

    Attributes
    ----------
    xi : np.ndarray, shape (n_filters,), float64
        Centre frequency of each wavelet in cycles per sample, decreasing.
    sigma : np.ndarray, shape (n_filters,), float64
        Bandwidth (standard deviation of the Gaussian in frequency) in cycles per sample.
    j : np.ndarray, shape (n_filters,), int64
        Largest ``j`` such that the wavelet is alias-free after subsampling by ``2**j``.
    """

    xi: np.ndarray
    sigma: np.ndarray
    j: np.ndarray


class ScatteringBank(NamedTuple):
    """The Morlet wavelets ψ1, ψ2 and the Gaussian low-pass φ of a time scattering, in the Fourier domain.

    Attributes
    ----------
    psi1_f : np.ndarray, shape (n1, N), float64
        First-order wavelets (``Q1`` per octave) on the frequencies
        ``np.fft.fftfreq(N)``, real; kymatio's ``psi1_f[n1]['levels'][0]``.
    psi2_f : np.ndarray, shape (n2, N), float64
        Second-order wavelets (``Q2`` per octave), kymatio's ``psi2_f[n2]['levels'][0]``.
    phi_f : np.ndarray, shape (N,), float64
        Gaussian low-pass of width ``sigma0 / T``, kymatio's ``phi_f['levels'][0]``.
    psi1_xi, psi1_sigma, psi1_j : np.ndarray, shape (n1,)
        Geometry of ψ1 (cycles per sample; ``j`` int64), see :class:`WaveletGeometry`.
    psi2_xi, psi2_sigma, psi2_j : np.ndarray, shape (n2,)
        Geometry of ψ2.
    psi2_levels : np.ndarray, shape (n2,), int64
        Highest subsampling level ``k`` at which kymatio stores ψ2 (the largest
        ``j1 < j2``): the inputs a second-order wavelet can receive.
    phi_sigma : float
        Bandwidth of φ in cycles per sample.
    phi_levels : int
        Highest subsampling level at which kymatio stores φ.
    log2_T : int
        ``floor(log2(T))``: the output is subsampled by ``2**log2_T``.
    N, J, Q, T : int, int, (int, int), int
        The design parameters (``Q = (Q1, Q2)``, ``T`` after its default).

    Notes
    -----
    Filters at a subsampling level ``k`` (a grid of ``N / 2**k`` bins) are
    ``periodize_fourier(filter_f, 2**k)``.
    """

    psi1_f: np.ndarray
    psi2_f: np.ndarray
    phi_f: np.ndarray
    psi1_xi: np.ndarray
    psi1_sigma: np.ndarray
    psi1_j: np.ndarray
    psi2_xi: np.ndarray
    psi2_sigma: np.ndarray
    psi2_j: np.ndarray
    psi2_levels: np.ndarray
    phi_sigma: float
    phi_levels: int
    log2_T: int
    N: int
    J: int
    Q: tuple
    T: int



class FrequentialBank(NamedTuple):
    """The log-frequency filters of joint time-frequency scattering, in the Fourier domain.

    They filter along the first-order wavelet index ``n1`` of a scalogram
    (zero-padded to ``N`` rows), as kymatio's development branch
    (``TimeFrequencyScattering.filters_fr``).

    Attributes
    ----------
    phi_f : np.ndarray, shape (N,), float64
        Gaussian low-pass of width ``F`` rows (bandwidth ``sigma0 / F``): the
        frequential averaging of the spinned paths, kymatio's ``filters_fr[0]``.
    psi_f : np.ndarray, shape (n_fr, N), float64
        Row 0: the spin-0 low-pass of width ``2**J_fr`` rows; then the Morlet
        wavelets of spin +1 (``xi > 0``, decreasing), then the same with
        spin -1 (``-xi``): kymatio's ``filters_fr[1]`` (index ``n_fr``).
    xi, sigma : np.ndarray, shape (n_fr,), float64
        Centre frequency (signed; 0 for row 0) and bandwidth, in cycles per row.
    j : np.ndarray, shape (n_fr,), int64
        Subsampling scale of each filter (``J_fr`` for row 0).
    spin : np.ndarray, shape (n_fr,), int64
        Sign of ``xi``: 0, +1 or -1.
    N, J_fr, Q_fr, F : int
        The design parameters (``F`` after its default ``2**J_fr``).
    log2_F : int
        ``floor(log2(F))``: the frequential subsampling of averaged paths.
    """

    phi_f: np.ndarray
    psi_f: np.ndarray
    xi: np.ndarray
    sigma: np.ndarray
    j: np.ndarray
    spin: np.ndarray
    N: int
    J_fr: int
    Q_fr: int
    F: int
    log2_F: int

    def phi_level(self, k):
        """``phi_f`` for rows subsampled by ``2**k``, periodised with a *sum* (kymatio 0.4's convention)."""
        return self.phi_f.reshape(2**k, -1).sum(axis=0)


def _check_Q(Q):
    """(Q1, Q2) from an int Q (Q2 = 1, as kymatio) or a 1- or 2-tuple of positive ints."""
    if isinstance(Q, (tuple, list)) and 1 <= len(Q) <= 2:
        values = tuple(Q) + ((1,) if len(Q) == 1 else ())
    else:
        values = (Q, 1)
    for name, value in zip(("Q1", "Q2"), values):
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
            raise ParameterError(
                f"Q={Q!r} is not allowed: {name}={value!r} must be a positive integer "
                "(Q is an int Q1, with Q2 = 1, or a tuple (Q1, Q2) of wavelets per octave)"
            )
    return int(values[0]), int(values[1])


def _check_J(J):
    if isinstance(J, bool) or not isinstance(J, numbers.Integral) or J < 1:
        raise ParameterError(f"J={J!r} must be a positive integer (the largest wavelet scale is 2**J samples)")
    return int(J)


def _check_T(T, J):
    """T as an int (default 2**J); it must be a positive integer."""
    if T is None:
        return 2**J
    if isinstance(T, bool) or not isinstance(T, numbers.Integral) or T < 1:
        raise ParameterError(f"T={T!r} must be None (2**J) or a positive integer (averaging scale in samples)")
    return int(T)


def _xi_max(Q):
    return max(1.0 / (1.0 + math.pow(2.0, 3.0 / Q)), 0.35)


def _sigma_psi(xi, Q, r):
    factor = 1.0 / math.pow(2, 1.0 / Q)
    term1 = (1 - factor) / (1 + factor)
    term2 = 1.0 / math.sqrt(2 * math.log(1.0 / r))
    return xi * term1 * term2


def _max_dyadic_subsampling(xi, sigma, alpha):
    upper_bound = min(xi + alpha * sigma, 0.5)
    return math.floor(-math.log2(upper_bound)) - 1


@functools.lru_cache(maxsize=64)
def _wavelet_geometry(J, Q, r_psi, sigma0, alpha):
    sigma_min = sigma0 / math.pow(2, J)
    xi_max = _xi_max(Q)
    sigma_max = _sigma_psi(xi_max, Q, r_psi)
    if sigma_max <= sigma_min:
        xis, sigmas, elbow_xi = [], [], sigma_max
    else:
        # Constant-Q region: a geometric progression of xi and sigma ...
        xis, sigmas = [xi_max], [sigma_max]
        while sigmas[-1] > sigma_min * math.pow(2, 1 / Q):
            xis.append(xis[-1] / math.pow(2, 1 / Q))
            sigmas.append(sigmas[-1] / math.pow(2, 1 / Q))
        elbow_xi = xis[-1]
    # ... then constant bandwidth: an arithmetic progression of xi down to 0.
    for q in range(1, Q):
        xis.append(elbow_xi - q / Q * elbow_xi)
        sigmas.append(sigma_min)
    js = [_max_dyadic_subsampling(xi, sigma, alpha) for xi, sigma in zip(xis, sigmas)]
    return WaveletGeometry(
        _readonly(np.array(xis, dtype=np.float64)),
        _readonly(np.array(sigmas, dtype=np.float64)),
        _readonly(np.array(js, dtype=np.int64)),
    )


def wavelet_geometry(J, Q, *, r_psi=_R_PSI, sigma0=0.1, alpha=5.0):
    r"""Centre frequencies, bandwidths and scales of a Morlet filterbank (kymatio 0.3.0's).

    From ``xi_max = max(1 / (1 + 2**(3/Q)), 0.35)`` down, ``Q`` wavelets per
    octave with constant ``xi / sigma`` (adjacent wavelets cross at ``r_psi``
    of their peak), until the bandwidth would fall below ``sigma0 / 2**J``;
    then ``Q - 1`` wavelets of that bandwidth spaced evenly down to 0.

    Parameters
    ----------
    J : int > 0
        Scale: the narrowest wavelet has bandwidth ``sigma0 / 2**J`` cycles per sample.
    Q : int > 0
        Wavelets per octave.
    r_psi : float in (0, 1)
        Overlap of adjacent wavelets (kymatio's default sqrt(1/2)).
    sigma0 : float > 0
        Bandwidth of the low-pass at scale 1, in cycles per sample (0.1).
    alpha : float > 0
        Aliasing tolerance: ``j`` is the largest integer with
        ``xi + alpha * sigma < 2**-(j + 1)`` (5).

    Returns
    -------
    WaveletGeometry
        ``xi``, ``sigma`` (cycles per sample) and ``j`` of each wavelet, by decreasing ``xi``.

    Notes
    -----
    Memoised on its arguments; the arrays are read-only.

    Examples
    --------
    >>> from modspec.filters import wavelet_geometry
    >>> g = wavelet_geometry(6, 1)
    >>> g.xi[:4], g.j
    (array([0.35   , 0.175  , 0.0875 , 0.04375]), array([0, 0, 0, 1, 2, 3, 4]))
    """
    J = _check_J(J)
    Q = check_positive_int("Q", Q)
    r_psi = check_real("r_psi", r_psi, positive=True)
    if r_psi >= 1:
        raise ParameterError(f"r_psi={r_psi!r} must be in (0, 1)")
    return _wavelet_geometry(
        J, Q, r_psi, check_real("sigma0", sigma0, positive=True), check_real("alpha", alpha, positive=True)
    )


def _n_periods(sigma, eps, P_max):
    """Periods of the frequency axis, [1 - P, P), over which a Gaussian of width sigma is summed."""
    return min(math.ceil(math.sqrt(-2 * sigma**2 * math.log(eps)) + 1), P_max)


# exp(-a) is exactly 0.0 in float64 for a > 745.2: beyond this many sigmas a Gaussian is zero.
_GAUSS_ZERO = math.sqrt(2 * 746.0)


def _gaussian(freqs, centre, sigma):
    """exp(-(freqs - centre)^2 / (2 sigma^2)) for increasing ``freqs``, evaluated only where it is not 0.0.

    Bit-identical to evaluating it everywhere (the same expression on the
    same elements), but the exponentials of the underflowing tails, most of
    a narrow filter's bins, are skipped.
    """
    out = np.zeros_like(freqs)
    lo, hi = np.searchsorted(freqs, [centre - _GAUSS_ZERO * sigma, centre + _GAUSS_ZERO * sigma])
    f = freqs[lo:hi]
    out[lo:hi] = np.exp(-((f - centre) ** 2) / (2 * sigma**2))
    return out


def _morlet(N, xi, sigma, P_max, eps, out=None):
    """kymatio's morlet_1d: periodised Gabor minus kappa times the Gaussian, unit L1 norm in time."""
    P = _n_periods(sigma, eps, P_max)
    freqs = np.arange((1 - P) * N, P * N, dtype=float) / float(N)
    if P == 1:
        # One period: the low-pass is centred on [-0.5, 0.5) (fftfreq), the Gabor on [0, 1).
        freqs_low = np.fft.fftfreq(N)
        low_pass_f = np.exp(-(freqs_low**2) / (2 * sigma**2))
    else:
        low_pass_f = _gaussian(freqs, 0.0, sigma).reshape(-1, N).mean(axis=0)
    if xi:
        gabor_f = _gaussian(freqs, xi, sigma).reshape(-1, N).mean(axis=0)
        # kappa makes the wavelet's mean in time (its value at f = 0) exactly zero.
        filter_f = gabor_f - gabor_f[0] / low_pass_f[0] * low_pass_f
    else:
        filter_f = low_pass_f
    norm = np.abs(scipy.fft.ifft(filter_f)).sum()
    if out is None:
        return filter_f / norm
    np.divide(filter_f, norm, out=out)
    return out


@functools.lru_cache(maxsize=256)
def _morlet_cached(N, xi, sigma, P_max, eps):
    return _readonly(_morlet(N, xi, sigma, P_max, eps))


def morlet_1d(N, xi, sigma, *, P_max=5, eps=1e-7):
    r"""A Morlet wavelet (or, with ``xi = 0``, a Gaussian) on ``N`` frequency bins, as kymatio 0.3.0.

    ``psi_f(f) = g(f - xi) - kappa g(f)`` with ``g(f) = exp(-f^2 / (2 sigma^2))``
    summed over the periods ``[1 - P, P)`` of the frequency axis (``P`` is the
    smallest number making the tails below ``eps``, at most ``P_max``), and
    ``kappa`` such that ``psi_f(0) = 0``; normalised to unit L1 norm in time.

    Parameters
    ----------
    N : int > 0
        Number of frequency bins (the signal length, padded).
    xi : float >= 0
        Centre frequency in cycles per sample; 0 gives the Gaussian low-pass.
    sigma : float > 0
        Bandwidth in cycles per sample.
    P_max : int > 0
        Most periods summed (5).
    eps : float in (0, 1)
        Tail level that sets the number of periods (1e-7).

    Returns
    -------
    np.ndarray, shape (N,), float64, read-only
        The real filter on the frequencies ``np.fft.fftfreq(N)``.

    Notes
    -----
    Memoised on its arguments.

    Examples
    --------
    >>> from modspec.filters import morlet_1d
    >>> psi = morlet_1d(1024, 0.25, 0.02)
    >>> int(psi.argmax()), float(psi[0])
    (256, 0.0)
    """
    N = check_positive_int("N", N)
    xi = check_real("xi", xi, nonnegative=True)
    sigma = check_real("sigma", sigma, positive=True)
    eps = check_real("eps", eps, positive=True)
    if eps >= 1:
        raise ParameterError(f"eps={eps!r} must be in (0, 1)")
    return _morlet_cached(N, xi, sigma, check_positive_int("P_max", P_max), eps)


def periodize_fourier(h_f, n_periods):
    r"""A Fourier-domain filter for a signal subsampled by ``n_periods``: the MEAN of its periods.

    ``v[k] = mean_i h_f[..., i * M + k]`` with ``M = N / n_periods``: the
    filter to apply to the spectrum of a signal subsampled by ``n_periods``
    in time (its time-domain taps are those of ``h_f`` subsampled). The mean,
    not the sum, is kymatio 0.3.0's convention (0.4 sums, which scales the
    first and second orders by powers of 2).

    Parameters
    ----------
    h_f : np.ndarray, shape (..., N)
    n_periods : int > 0
        Must divide ``N``.

    Returns
    -------
    np.ndarray, shape (..., N // n_periods)

    Examples
    --------
    >>> import numpy as np
    >>> from modspec.filters import periodize_fourier
    >>> periodize_fourier(np.arange(8.0), 2)
    array([2., 3., 4., 5.])
    """
    n_periods = check_positive_int("n_periods", n_periods)
    h_f = np.asarray(h_f)
    if h_f.shape[-1] % n_periods:
        raise ParameterError(f"n_periods={n_periods} does not divide the filter length {h_f.shape[-1]}")
    return h_f.reshape(h_f.shape[:-1] + (n_periods, h_f.shape[-1] // n_periods)).mean(axis=-2)


def _check_morlet_options(r_psi, sigma0, alpha, P_max, eps):
    """Validated (r_psi, sigma0, alpha, P_max, eps) of a Morlet bank design (wavelet_geometry, morlet_1d)."""
    r_psi = check_real("r_psi", r_psi, positive=True)
    if r_psi >= 1:
        raise ParameterError(f"r_psi={r_psi!r} must be in (0, 1)")
    eps = check_real("eps", eps, positive=True)
    if eps >= 1:
        raise ParameterError(f"eps={eps!r} must be in (0, 1)")
    return (r_psi, check_real("sigma0", sigma0, positive=True), check_real("alpha", alpha, positive=True),
            check_positive_int("P_max", P_max), eps)


@functools.lru_cache(maxsize=16)
def _scattering_filterbank(N, J, Q, T, r_psi, sigma0, alpha, P_max, eps):
    g1 = _wavelet_geometry(J, Q[0], r_psi, sigma0, alpha)
    g2 = _wavelet_geometry(J, Q[1], r_psi, sigma0, alpha)
    log2_T = math.floor(math.log2(T))
    psi1 = np.empty((len(g1.xi), N))
    for n, (xi, sigma) in enumerate(zip(g1.xi.tolist(), g1.sigma.tolist())):
        _morlet(N, xi, sigma, P_max, eps, out=psi1[n])
    psi2 = np.empty((len(g2.xi), N))
    for n, (xi, sigma) in enumerate(zip(g2.xi.tolist(), g2.sigma.tolist())):
        _morlet(N, xi, sigma, P_max, eps, out=psi2[n])
    phi_sigma = sigma0 / T
    phi = _morlet(N, 0.0, phi_sigma, P_max, eps)
    psi2_levels = np.array([max([j1 for j1 in g1.j.tolist() if j2 > j1], default=0) for j2 in g2.j.tolist()])
    phi_levels = min(max(int(g1.j.max(initial=0)), int(g2.j.max(initial=0))), log2_T)
    return ScatteringBank(
        _readonly(psi1), _readonly(psi2), _readonly(phi), g1.xi, g1.sigma, g1.j, g2.xi, g2.sigma, g2.j,
        _readonly(psi2_levels.astype(np.int64)), float(phi_sigma), phi_levels, log2_T, N, J, Q, T,
    )


def scattering_filterbank(N, J, Q=1, T=None, *, r_psi=_R_PSI, sigma0=0.1, alpha=5.0, P_max=5, eps=1e-7):
    r"""The filters of a time scattering transform, as kymatio 0.3.0's ``scattering_filter_factory``.

    First-order Morlet wavelets ψ1 (``Q1`` per octave), second-order ψ2
    (``Q2`` per octave), both with geometry :func:`wavelet_geometry` down to
    the bandwidth ``sigma0 / 2**J``, and a Gaussian low-pass φ of bandwidth
    ``sigma0 / T``, each synthesised by :func:`morlet_1d` on ``N`` bins.

    Parameters
    ----------
    N : int > 0
        Number of frequency bins: the padded signal length (kymatio's ``N_padded``).
    J : int > 0
        Scale of the largest wavelet, ``2**J`` samples.
    Q : int or tuple of int
        Wavelets per octave: ``Q1`` (then ``Q2 = 1``) or ``(Q1, Q2)``.
    T : int > 0 or None
        Averaging scale of φ in samples (default ``2**J``).
    r_psi, sigma0, alpha
        See :func:`wavelet_geometry`.
    P_max, eps
        See :func:`morlet_1d`.

    Returns
    -------
    ScatteringBank
        Filters (float64, real, on ``np.fft.fftfreq(N)``) and their metadata.

    Notes
    -----
    Memoised on its arguments; the arrays are read-only. Designing takes a
    few hundred milliseconds for ``N = 2**17``, once per process.

    Examples
    --------
    >>> from modspec.filters import scattering_filterbank
    >>> bank = scattering_filterbank(2**13, 6, 8)
    >>> bank.psi1_f.shape, bank.psi2_f.shape, bank.phi_f.shape, bank.Q, bank.T
    ((38, 8192), (7, 8192), (8192,), (8, 1), 64)
    """
    N = check_positive_int("N", N)
    J = _check_J(J)
    Q = _check_Q(Q)
    T = _check_T(T, J)
    return _scattering_filterbank(N, J, Q, T, *_check_morlet_options(r_psi, sigma0, alpha, P_max, eps))


@functools.lru_cache(maxsize=16)
def _frequential_filterbank(N, J_fr, Q_fr, F, r_psi, sigma0, alpha, P_max, eps):
    geometry = _wavelet_geometry(J_fr, Q_fr, r_psi, sigma0, alpha)
    xis = [0.0] + geometry.xi.tolist() + (-geometry.xi).tolist()
    sigmas = [sigma0 / 2**J_fr] + geometry.sigma.tolist() * 2
    js = [J_fr] + geometry.j.tolist() * 2
    psi = np.empty((len(xis), N))
    for n, (xi, sigma) in enumerate(zip(xis, sigmas)):
        _morlet(N, xi, sigma, P_max, eps, out=psi[n])
    return FrequentialBank(
        _readonly(_morlet(N, 0.0, sigma0 / F, P_max, eps)), _readonly(psi),
        _readonly(np.array(xis)), _readonly(np.array(sigmas)), _readonly(np.array(js, dtype=np.int64)),
        _readonly(np.sign(xis).astype(np.int64)), N, J_fr, Q_fr, F, int(math.floor(math.log2(F))),
    )


def frequential_filterbank(N, J_fr, Q_fr=1, F=None, *, r_psi=_R_PSI, sigma0=0.1, alpha=5.0, P_max=5, eps=1e-7):
    r"""The log-frequency filters of joint time-frequency scattering (kymatio's development branch).

    Morlet wavelets along the first-order wavelet index of a scalogram:
    ``Q_fr`` per octave (geometry :func:`wavelet_geometry` with ``J_fr``),
    each with spin +1 (``xi > 0``) and spin -1 (``-xi``), after a spin-0
    Gaussian low-pass of width ``2**J_fr`` rows; and the Gaussian low-pass
    φ of width ``F`` rows that averages the spinned paths.

    Parameters
    ----------
    N : int > 0
        Number of frequency bins: the zero-padded number of rows (kymatio's ``N_padded_fr``).
    J_fr : int > 0
        Scale of the largest frequential wavelet, ``2**J_fr`` rows.
    Q_fr : int > 0
        Frequential wavelets per octave.
    F : int > 0 or None
        Frequential averaging width in rows (default ``2**J_fr``).
    r_psi, sigma0, alpha
        See :func:`wavelet_geometry`.
    P_max, eps
        See :func:`morlet_1d`.

    Returns
    -------
    FrequentialBank
        Filters (float64, real, on ``np.fft.fftfreq(N)``) and their metadata.

    Examples
    --------
    >>> from modspec.filters import frequential_filterbank
    >>> bank = frequential_filterbank(88, 2)
    >>> bank.psi_f.shape, bank.spin.tolist(), bank.F
    ((7, 88), [0, 1, 1, 1, -1, -1, -1], 4)
    """
    N = check_positive_int("N", N)
    J_fr = check_positive_int("J_fr", J_fr)
    Q_fr = check_positive_int("Q_fr", Q_fr)
    F = 2**J_fr if F is None else check_positive_int("F", F)
    if N % 2**J_fr:
        raise ParameterError(f"N={N} must be a multiple of 2**J_fr = {2**J_fr}")
    return _frequential_filterbank(N, J_fr, Q_fr, F, *_check_morlet_options(r_psi, sigma0, alpha, P_max, eps))
