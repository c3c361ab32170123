"""Short-time Fourier transform, spectrograms, mel spectrograms and decibels.

Defaults and results follow librosa 0.11 (``center=True``, ``pad_mode='constant'``,
periodic Hann window, Slaney mel scale with Slaney normalisation). The work
runs in numba kernels (:mod:`modspec.kernels.cpu`) with scipy.fft's real FFT in
between, pipelined over blocks of frames on all cores.
"""

import functools
import math
import numbers
import warnings

import numpy as np

from modspec import _backend, filters
from modspec.errors import (
    ParameterError,
    check_audio,
    check_positive_int,
    check_power,
    check_spectrogram,
    warn_user,
)
from modspec.kernels import cpu

__all__ = ["amplitude_to_db", "melspectrogram", "power_to_db", "spectrogram", "stft"]

_PAD_MODES = ("constant", "reflect")


def _flatten_batch(x, n_trailing):
    """View (..., *trailing) as (batch, *trailing) and return the leading shape."""
    lead = x.shape[: x.ndim - n_trailing]
    return np.ascontiguousarray(x.reshape((-1,) + x.shape[x.ndim - n_trailing :])), lead


def _frame_geometry(n_samples, n_fft, hop_length, center):
    """Number of frames and left padding of librosa's STFT framing."""
    if center:
        if n_fft > n_samples:
            warn_user(f"n_fft={n_fft} is too large for input signal of length={n_samples}")
        pad = n_fft // 2
        return 1 + (n_samples + 2 * pad - n_fft) // hop_length, pad
    if n_fft > n_samples:
        raise ParameterError(
            f"n_fft={n_fft} is too large for uncentered analysis of input signal of length={n_samples}; "
            "use center=True, a smaller n_fft or a longer signal"
        )
    return 1 + (n_samples - n_fft) // hop_length, 0


def _framing_setup(n_fft, hop_length, win_length, pad_mode):
    """Validated ``(n_fft, win_length, hop_length)`` of an STFT (both backends); hop None is win_length // 4."""
    n_fft = check_positive_int("n_fft", n_fft)
    win_length = n_fft if win_length is None else check_positive_int("win_length", win_length)
    if hop_length is None:
        if win_length < 4:
            raise ParameterError(f"hop_length=None gives win_length // 4 = 0 for win_length={win_length}; pass hop_length")
        hop_length = win_length // 4
    hop_length = check_positive_int("hop_length", hop_length)
    if pad_mode not in _PAD_MODES:
        raise ParameterError(f"pad_mode={pad_mode!r} is not supported; use one of {_PAD_MODES}")
    return n_fft, win_length, hop_length


def _stft(y, *, n_fft, hop_length, win_length, window, center, pad_mode, reduce, n_out, out_dtype, **kwargs):
    """Validate the framing, then frame, window, FFT and reduce every block of frames.

    ``y`` is already validated by the caller. Returns the output
    (..., n_out, n_frames) with ``y``'s leading shape.
    """
    n_fft, win_length, hop_length = _framing_setup(n_fft, hop_length, win_length, pad_mode)
    w = filters.get_window(window, n_fft, win_length=win_length, dtype=y.dtype)
    y2, lead = _flatten_batch(y, 1)
    n_frames, pad = _frame_geometry(y2.shape[-1], n_fft, hop_length, bool(center))
    reflect = pad_mode == "reflect" and pad > 0
    if reflect and pad >= y2.shape[-1]:
        # Repeated reflection of a signal shorter than the padding: let np.pad do it.
        if y2.shape[-1] < 2:
            raise ParameterError(f"pad_mode='reflect' needs at least 2 samples, got y of shape {y.shape}")
        y2 = np.pad(y2, ((0, 0), (pad, pad)), mode="reflect")
        pad, reflect = 0, False
    if reduce == "complex":
        out = np.empty((y2.shape[0], n_frames, n_out), dtype=out_dtype)
        cpu.stft_pipeline(y2, w, hop_length, pad, reflect, n_frames, reduce, out, **kwargs)
        return out.reshape(lead + out.shape[1:]).swapaxes(-1, -2)
    out = np.empty((y2.shape[0], n_out, n_frames), dtype=out_dtype)
    cpu.stft_pipeline(y2, w, hop_length, pad, reflect, n_frames, reduce, out, **kwargs)
    return out.reshape(lead + out.shape[1:])


@_backend.on_input_device
def stft(y, *, n_fft=2048, hop_length=None, win_length=None, window="hann", center=True, pad_mode="constant"):
    """Short-time Fourier transform, equal to ``librosa.stft``.

    Parameters
    ----------
    y : np.ndarray, shape (..., n_samples), float32 or float64
        Signals; leading axes are kept.
    n_fft : int > 0
        Frame length in samples (FFT size).
    hop_length : int > 0 or None
        Hop between frames in samples; None means ``win_length // 4``.
    win_length : int or None
        Window length in samples, ``<= n_fft`` (centred in the frame); None
        means ``n_fft``.
    window : str, tuple or np.ndarray
        Window name for ``scipy.signal.get_window`` (periodic) or the window.
    center : bool
        If True, frame ``t`` is centred at sample ``t * hop_length`` (the signal
        is padded by ``n_fft // 2`` on both sides).
    pad_mode : {'constant', 'reflect'}
        Padding when ``center`` is True.

    Returns
    -------
    D : np.ndarray, shape (..., 1 + n_fft // 2, n_frames), complex64 or complex128
        ``n_frames = 1 + n_samples // hop_length`` when centred, else
        ``1 + (n_samples - n_fft) // hop_length``. Frames are contiguous in
        memory (a transposed view, like librosa's Fortran-ordered result and
        torch.stft's): ``np.ascontiguousarray(D)`` if you need C order.

    Raises
    ------
    ParameterError
        On integer, complex or non-finite input, non-positive sizes, an
        unknown pad mode, or ``n_fft > n_samples`` with ``center=False``.

    Notes
    -----
    Framing and windowing are one numba kernel (no padded copy of the signal);
    the FFT is scipy.fft's. Blocks of frames of every signal run in parallel
    on all cores (``NUMBA_NUM_THREADS`` sets how many).

    Examples
    --------
    >>> import numpy as np, modspec.features as mf
    >>> y = np.zeros((2, 16000), dtype=np.float32)
    >>> mf.stft(y, n_fft=512, hop_length=256).shape
    (2, 257, 63)
    """
    if _backend.is_cupy(y):
        return _backend.gpu().stft(y=y, n_fft=n_fft, hop_length=hop_length, win_length=win_length, window=window,
            center=center, pad_mode=pad_mode)
    check_audio(y)
    return _stft(
        y, n_fft=n_fft, hop_length=hop_length, win_length=win_length, window=window, center=center,
        pad_mode=pad_mode, reduce="complex", n_out=1 + check_positive_int("n_fft", n_fft) // 2,
        out_dtype=np.result_type(y.dtype, np.complex64),
    )


@_backend.on_input_device
def spectrogram(
    y, *, n_fft=2048, hop_length=None, win_length=None, window="hann", center=True, pad_mode="constant", power=2.0
):
    """Magnitude (``power=1``) or power (``power=2``) spectrogram ``|STFT(y)|^power``.

    Parameters
    ----------
    y : np.ndarray, shape (..., n_samples), float32 or float64
    n_fft, hop_length, win_length, window, center, pad_mode
        As :func:`stft`.
    power : float > 0
        Exponent of the magnitude.

    Returns
    -------
    S : np.ndarray, shape (..., 1 + n_fft // 2, n_frames), dtype of ``y``

    Notes
    -----
    The modulus and the transpose to (frequency, time) are one kernel pass
    over the FFT output.
    """
    if _backend.is_cupy(y):
        return _backend.gpu().spectrogram(y=y, n_fft=n_fft, hop_length=hop_length, win_length=win_length,
            window=window, center=center, pad_mode=pad_mode, power=power)
    power = check_power(power)
    check_audio(y)
    return _stft(
        y, n_fft=n_fft, hop_length=hop_length, win_length=win_length, window=window, center=center,
        pad_mode=pad_mode, reduce="power", n_out=1 + check_positive_int("n_fft", n_fft) // 2, out_dtype=y.dtype,
        exponent=power,
    )


@functools.lru_cache(maxsize=64)
def _sparse_mel(sr, n_fft, n_mels, fmin, fmax, htk, norm, dtype):
    """The mel bank and each band's support: first and one-past-last non-zero bin."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the caller's own filters.mel call warns
        weights = filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax, htk=htk, norm=norm, dtype=dtype)
    return (weights, *band_support(weights))


def band_support(weights):
    """First and one-past-last non-zero column of every row of a (n_bands, n_freq) bank (0, 0 if empty)."""
    nonzero = weights != 0
    has_bins = nonzero.any(axis=1)
    starts = np.where(has_bins, nonzero.argmax(axis=1), 0).astype(np.int64)
    stops = np.where(has_bins, weights.shape[1] - nonzero[:, ::-1].argmax(axis=1), 0).astype(np.int64)
    return starts, stops


def _mel_setup(y, S, sr, n_fft, power, n_mels, fmin, fmax, htk, norm, *, finite=True):
    """Validated ``(n_fft, power, dtype, (weights, starts, stops))`` of a melspectrogram call, for both backends.

    Exactly one of ``y`` and ``S``; the sparse mel bank is a host array
    (memoised), which the GPU path moves to the device. ``finite=False``:
    the caller checks ``y`` for NaN and inf itself (see :func:`check_audio`).
    """
    if (y is None) == (S is None):
        raise ParameterError("give exactly one of y (signal) or S (spectrogram)")
    if y is not None:
        check_audio(y, finite=finite)
        power = check_power(power)
        dtype = y.dtype
    else:
        check_spectrogram(S)
        dtype = S.dtype
        n_fft = check_positive_int("n_fft", n_fft)
        if S.shape[-2] != 1 + n_fft // 2:
            raise ParameterError(
                f"S has {S.shape[-2]} frequency bins but n_fft={n_fft} gives {1 + n_fft // 2}; "
                f"pass n_fft={2 * (S.shape[-2] - 1)}"
            )
    # Designing first validates the mel arguments and warns about empty bands on every call.
    filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax, htk=htk, norm=norm, dtype=dtype)
    return n_fft, power, dtype, _sparse_mel(sr, n_fft, n_mels, fmin, fmax, htk, norm, np.dtype(dtype))


@_backend.on_input_device
def melspectrogram(
    y=None,
    *,
    sr=22050,
    S=None,
    n_fft=2048,
    hop_length=512,
    win_length=None,
    window="hann",
    center=True,
    pad_mode="constant",
    power=2.0,
    n_mels=128,
    fmin=0.0,
    fmax=None,
    htk=False,
    norm="slaney",
):
    """Mel spectrogram, equal to ``librosa.feature.melspectrogram``.

    Parameters
    ----------
    y : np.ndarray, shape (..., n_samples), float32 or float64, optional
        Signals. Give either ``y`` or ``S``.
    sr : float > 0
        Sample rate in Hz.
    S : np.ndarray, shape (..., 1 + n_fft // 2, n_frames), optional
        A precomputed magnitude/power spectrogram (``n_fft`` must match it).
    n_fft, hop_length, win_length, window, center, pad_mode
        As :func:`stft` (used with ``y`` only).
    power : float > 0
        Exponent of the STFT magnitude (with ``y`` only).
    n_mels, fmin, fmax, htk, norm
        The mel filterbank, as :func:`modspec.filters.mel`.

    Returns
    -------
    M : np.ndarray, shape (..., n_mels, n_frames), dtype of the input

    Notes
    -----
    The mel bank is designed once (memoised) in the input's dtype; float64
    therefore matches librosa called with ``dtype=np.float64``. From ``y``,
    ``|X|^power`` and the projection are fused: each band reads only its non-zero
    FFT bins and no power spectrogram is materialised.

    Examples
    --------
    >>> import numpy as np, modspec.features as mf
    >>> y = np.random.default_rng(0).standard_normal((4, 16000)).astype(np.float32)
    >>> M = mf.melspectrogram(y, sr=16000, n_fft=512, hop_length=256, n_mels=96)
    >>> M.shape, M.dtype
    ((4, 96, 63), dtype('float32'))
    """
    if _backend.is_cupy(y) or _backend.is_cupy(S):
        return _backend.gpu().melspectrogram(y=y, sr=sr, S=S, n_fft=n_fft, hop_length=hop_length,
            win_length=win_length, window=window, center=center, pad_mode=pad_mode, power=power, n_mels=n_mels,
            fmin=fmin, fmax=fmax, htk=htk, norm=norm)
    n_fft, power, dtype, (weights, starts, stops) = _mel_setup(y, S, sr, n_fft, power, n_mels, fmin, fmax, htk, norm)
    if y is not None:
        return _stft(
            y, n_fft=n_fft, hop_length=hop_length, win_length=win_length, window=window, center=center,
            pad_mode=pad_mode, reduce="bands", n_out=weights.shape[0], out_dtype=dtype, exponent=power,
            bands=(weights, starts, stops),
        )
    S2, lead = _flatten_batch(S, 2)
    M = np.empty((S2.shape[0], weights.shape[0], S2.shape[2]), dtype=dtype)
    cpu._project_bands(S2, weights, starts, stops, M)
    return M.reshape(lead + M.shape[1:])


def _check_db_args(amin, top_db):
    def is_number(value):
        return isinstance(value, numbers.Real) and not isinstance(value, bool) and np.isfinite(value)

    if not is_number(amin) or amin <= 0:
        raise ParameterError(f"amin={amin!r} must be a finite number, strictly positive")
    if top_db is not None and (not is_number(top_db) or top_db < 0):
        raise ParameterError(f"top_db={top_db!r} must be a finite non-negative number or None")


def _host_scalar(value, xp):
    """True for a number on the device path: it stays a host scalar (no device round trip)."""
    return xp is not np and isinstance(value, numbers.Number)


def _reference_value(magnitude, ref, xp):
    """ref as a value, or ref(item) for every spectrogram (last two axes) of a batch.

    On the device path (``xp`` not NumPy) a number stays a host scalar and
    anything else becomes a device array.
    """
    on_device = xp is not np
    if not callable(ref):
        return abs(ref) if _host_scalar(ref, xp) else xp.abs(xp.asarray(ref))
    if magnitude.ndim <= 2:
        value = ref(magnitude)
        return xp.asarray(value) if on_device else value
    if ref in (np.max, np.amax, xp.max, xp.amax):  # one reduction for the batch (max is exact: same values)
        return magnitude.max(axis=(-2, -1), keepdims=True)
    items = magnitude.reshape((-1,) + magnitude.shape[-2:])
    if on_device:
        values = xp.stack([xp.asarray(ref(item)).reshape(()) for item in items]).astype(magnitude.dtype)
    else:
        values = np.array([ref(item) for item in items], dtype=magnitude.dtype)
    return values.reshape(magnitude.shape[:-2] + (1, 1))


@_backend.on_input_device
def power_to_db(S, *, ref=1.0, amin=1e-10, top_db=80.0):
    """Power to decibels: ``10 log10(max(amin, S) / max(amin, ref))``, as ``librosa.power_to_db``.

    Parameters
    ----------
    S : np.ndarray, shape (..., n_freq, n_frames), float32 or float64
        Power (non-negative) spectrograms.
    ref : float or callable
        Reference power (0 dB); a callable such as ``np.max`` is applied to
        each spectrogram of the batch.
    amin : float > 0
        Floor of ``S`` and ``ref`` (avoids log of zero).
    top_db : float >= 0 or None
        Clip each spectrogram at ``top_db`` below its own maximum.

    Returns
    -------
    S_db : np.ndarray, same shape and dtype as ``S``

    Notes
    -----
    librosa reduces ``ref`` and ``top_db`` over the whole array; here each
    spectrogram of a batch (last two axes) is its own item, so a batch gives
    the same result as its items one by one. For a single 2-D spectrogram the
    two agree exactly.

    One body for NumPy and CuPy arrays: a CuPy ``S`` is computed by CuPy on
    its device (a callable ``ref`` then gets CuPy items; ``np.max`` and
    ``cupy.max`` are one reduction over the batch), a number ``ref`` stays a
    host scalar.
    """
    xp = _backend.get_array_module(S)
    if xp is np and not isinstance(S, np.ndarray):
        S = np.asarray(S)
    on_device = xp is not np
    if S.dtype.kind == "c":
        absolute = "abs" if on_device else "np.abs"
        raise ParameterError(
            f"S is complex; pass the power {absolute}(S)**2 (or use amplitude_to_db on {absolute}(S))"
        )
    if S.dtype not in (np.float32, np.float64):
        raise ParameterError(
            f"S has dtype {S.dtype}; only float32 and float64 are accepted "
            f"(S.astype({'cupy' if on_device else 'np'}.float32))"
        )
    _check_db_args(amin, top_db)
    ref_value = _reference_value(S, ref, xp)
    log_spec = 10.0 * xp.log10(xp.maximum(amin, S))
    if _host_scalar(ref_value, xp):
        log_spec -= 10.0 * math.log10(max(amin, ref_value))
    else:
        log_spec -= 10.0 * xp.log10(xp.maximum(amin, ref_value))
    if top_db is not None:
        peak = log_spec.max(axis=(-2, -1), keepdims=True) if log_spec.ndim >= 2 else log_spec.max()
        log_spec = xp.maximum(log_spec, peak - top_db)
    return log_spec.astype(S.dtype, copy=False)


@_backend.on_input_device
def amplitude_to_db(S, *, ref=1.0, amin=1e-5, top_db=80.0):
    """Amplitude to decibels: ``20 log10(max(amin, |S|) / max(amin, ref))``, as ``librosa.amplitude_to_db``.

    Parameters
    ----------
    S : np.ndarray, shape (..., n_freq, n_frames)
        Magnitude spectrograms (complex input is taken as ``np.abs(S)``).
    ref : float or callable
        Reference amplitude (0 dB); a callable is applied to each spectrogram.
    amin : float > 0
        Floor of the amplitude.
    top_db : float >= 0 or None
        Clip each spectrogram at ``top_db`` below its own maximum.

    Returns
    -------
    S_db : np.ndarray, same shape as ``S``, real dtype of ``S``

    Notes
    -----
    One body for NumPy and CuPy arrays, as :func:`power_to_db`.
    """
    xp = _backend.get_array_module(S)
    magnitude = xp.abs(S)
    _check_db_args(amin, top_db)
    ref_value = _reference_value(magnitude, ref, xp)
    ref_power = ref_value**2 if _host_scalar(ref_value, xp) else xp.square(ref_value)
    return power_to_db(xp.square(magnitude), ref=ref_power, amin=amin**2, top_db=top_db)
