"""Filter design: pure NumPy, no application.

Every designer here is pure: results are memoised in-process on their
arguments and returned read-only, so the CPU kernels, the GPU backend and the
torch modules all share one design and nothing is redesigned per call.
Frequencies are in Hz with the sample rate ``sr``.
"""

import functools
import warnings

import numpy as np

from modspec.errors import ParameterError, check_positive_int

__all__ = ["a_weighting", "fft_frequencies", "get_window", "hz_to_mel", "mel", "mel_frequencies", "mel_to_hz"]

# Slaney's mel scale (Auditory Toolbox): linear below 1 kHz, logarithmic above.
_SLANEY_F_SP = 200.0 / 3
_SLANEY_MIN_LOG_HZ = 1000.0
_SLANEY_MIN_LOG_MEL = _SLANEY_MIN_LOG_HZ / _SLANEY_F_SP
_SLANEY_LOGSTEP = np.log(6.4) / 27.0


def _readonly(array):
    array.setflags(write=False)
    return array


def _check_dtype(dtype):
    dtype = np.dtype(dtype)
    if dtype not in (np.float32, np.float64):
        raise ParameterError(f"dtype={dtype} is not supported; use np.float32 or np.float64")
    return dtype


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


def _check_sr(sr):
    if isinstance(sr, bool) or not np.isscalar(sr) or not np.isfinite(sr) or sr <= 0:
        raise ParameterError(f"sr={sr!r} must be a positive sample rate in Hz")
    return float(sr)


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
    weights, empty = _mel(sr, n_fft, n_mels, float(fmin), fmax, bool(htk), norm, _check_dtype(dtype))
    if empty:
        warnings.warn(
            f"Empty filters detected in mel frequency basis: bands {list(empty)} of n_mels={n_mels} get no "
            f"FFT bin with sr={sr}, n_fft={n_fft}. Some channels will produce empty responses. Try increasing "
            "n_fft or your sampling rate (and fmax), or reducing n_mels.",
            UserWarning,
            stacklevel=2,
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
    if isinstance(window, np.ndarray) or isinstance(window, list):
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
    return _window(key, win_length, n_fft, _check_dtype(dtype))
