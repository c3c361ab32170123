"""Responses of the learnable front ends for given parameters: sinc and harmonic filterbanks.

The parameters (cut-offs, Q, f0) are arguments here; :mod:`modspec.nn` learns
them (``SincConv``, ``HarmonicSpectrogram``) and gives the same numbers.
"""

import functools

import numpy as np

from modspec import _backend, filters
from modspec.errors import (
    ParameterError,
    check_audio,
    check_choice,
    check_positive_int,
    check_power,
)
from modspec.features.spectral import _flatten_batch, _stft, band_support, power_to_db
from modspec.kernels import cpu

__all__ = ["harmonic_spectrogram", "sinc_filterbank"]

#: Rectifications of a filterbank's output: none, max(x, 0), |x|, |x|^2.
RECTIFIERS = (None, "relu", "abs", "square")


@_backend.on_input_device
def sinc_filterbank(
    y, sr, *, n_filters=80, kernel_size=256, stride=10, fmin=30.0, fmax=None, min_low_hz=50.0, min_band_hz=50.0,
    low_hz=None, high_hz=None, rectify=None,
):
    r"""Output of a SincNet band-pass layer: Vahidi et al.'s 1-80-256-10 convolution by default.

    ``out[..., k, t] = sum_j y[..., t * stride + j] g_k[j]`` with ``g_k`` the
    Hamming-windowed band-pass of :func:`modspec.filters.sinc_bandpass`
    (cut-offs ``f1, f2`` of filter k), then an optional rectification. The
    convolution is "valid" (no padding), as ``torch.nn.functional.conv1d``.

    Parameters
    ----------
    y : np.ndarray, shape (..., n_samples), float32 or float64
        Signals, at least ``kernel_size`` samples long.
    sr : float > 0
        Sample rate in Hz (16000 in Vahidi et al.).
    n_filters, kernel_size : int > 0
        Number of filters K and taps per filter (80 and 256).
    stride : int > 0
        Hop between outputs in samples (10: a 1.6 kHz output rate at 16 kHz).
    fmin, fmax, min_low_hz, min_band_hz, low_hz, high_hz
        The bank's design, as :func:`modspec.filters.sinc_bandpass`: mel-spaced
        cut-offs between ``fmin`` and ``fmax`` Hz, or explicit (e.g. learned)
        ``low_hz``, ``high_hz`` of shape (n_filters,), under SincNet's constraints.
    rectify : {None, 'relu', 'abs', 'square'}
        Rectification of the output: none, ``max(x, 0)``, ``|x|`` or ``|x|^2``.

    Returns
    -------
    np.ndarray, shape (..., n_filters, n_frames), dtype of ``y``
        ``n_frames = (n_samples - kernel_size) // stride + 1``.

    Raises
    ------
    ParameterError
        Cut-offs outside (0, sr/2] or with f1 >= f2, non-positive sizes, a
        signal shorter than the kernel, an unknown ``rectify``.

    Notes
    -----
    The convolution runs as FFT (overlap-save) convolution that computes only
    the strided outputs, on all cores; :class:`modspec.nn.SincConv` computes
    the same in torch, differentiably.

    Examples
    --------
    >>> import numpy as np, modspec.features as mf
    >>> y = np.random.default_rng(0).standard_normal((2, 16000)).astype(np.float32)
    >>> mf.sinc_filterbank(y, 16000, rectify="relu").shape
    (2, 80, 1575)
    """
    if _backend.is_cupy(y):
        return _backend.gpu().sinc_filterbank(y=y, sr=sr, n_filters=n_filters, kernel_size=kernel_size, stride=stride,
            fmin=fmin, fmax=fmax, min_low_hz=min_low_hz, min_band_hz=min_band_hz, low_hz=low_hz, high_hz=high_hz,
            rectify=rectify)
    bank, stride, rectify = _sinc_setup(y, sr, n_filters, kernel_size, stride, fmin, fmax, min_low_hz, min_band_hz,
                                        low_hz, high_hz, rectify)
    y2, lead = _flatten_batch(y, 1)
    out = cpu.correlate(y2, bank, stride, rectify=rectify)
    return out.reshape(lead + out.shape[1:])


def _sinc_setup(y, sr, n_filters, kernel_size, stride, fmin, fmax, min_low_hz, min_band_hz, low_hz, high_hz,
                rectify):
    """Validated ``(filters (n_filters, K) host array, stride, rectify)`` of a sinc_filterbank call (both backends)."""
    check_audio(y)
    stride = check_positive_int("stride", stride)
    rectify = check_choice("rectify", rectify, RECTIFIERS)
    bank = filters.sinc_bandpass(
        n_filters, kernel_size, sr=sr, fmin=fmin, fmax=fmax, min_low_hz=min_low_hz, min_band_hz=min_band_hz,
        low_hz=low_hz, high_hz=high_hz, dtype=y.dtype,
    )
    kernel_size = bank.filters.shape[1]
    if y.shape[-1] < kernel_size:
        raise ParameterError(
            f"y has {y.shape[-1]} samples, fewer than kernel_size={kernel_size}; pass a longer signal or a smaller kernel"
        )
    return bank.filters, stride, rectify


@functools.lru_cache(maxsize=32)
def _sparse_harmonic(sr, n_fft, n_harmonic, semitone_scale, Q, f0, dtype):
    """The harmonic bank as (n_harmonic * n_bands, n_freq) rows and each row's non-zero bin range."""
    bank = filters.harmonic(sr=sr, n_fft=n_fft, n_harmonic=n_harmonic, semitone_scale=semitone_scale, Q=Q,
                            f0=f0, dtype=dtype)
    weights = np.ascontiguousarray(bank.weights.reshape(-1, bank.weights.shape[-1]))
    return (weights, *band_support(weights), bank.weights.shape[:2])


@_backend.on_input_device
def harmonic_spectrogram(
    y, sr, *, n_fft=512, hop_length=None, win_length=None, window="hann", center=True, pad_mode="constant",
    power=2.0, n_harmonic=6, semitone_scale=2, Q=1.0, f0=None, db=True, amin=1e-10, top_db=None,
):
    r"""Won et al.'s harmonic spectrogram: harmonic triangular filters on the STFT, in dB.

    ``H[..., h, b, t] = sum_k W[h, b, k] |STFT(y)[..., k, t]|^power`` with
    ``W`` the bank of :func:`modspec.filters.harmonic` (band b's harmonic h
    centred on ``h * f0[b]``), then ``10 log10(max(H, amin))`` as the authors'
    ``HarmonicSTFT`` (torchaudio's ``AmplitudeToDB`` on power, no ``top_db``).

    Parameters
    ----------
    y : np.ndarray, shape (..., n_samples), float32 or float64
    sr : float > 0
        Sample rate in Hz (16000 in Won et al. and TMNN).
    n_fft, hop_length, win_length, window, center, pad_mode
        The STFT, as :func:`modspec.features.stft`; ``hop_length=None`` means
        ``n_fft // 2`` (TMNN's 50 % overlap: 512-point FFTs, 62.5 frames/s at 16 kHz).
    power : float > 0
        Exponent of the STFT magnitude (2: power).
    n_harmonic, semitone_scale, Q, f0
        The bank, as :func:`modspec.filters.harmonic` (6 harmonics, 2 bands per
        semitone, Q = 1 at initialisation; ``f0`` explicit fundamentals in Hz).
    db : bool
        Return ``10 log10(max(H, amin))`` (True) or the linear ``H``.
    amin : float > 0
        Floor before the logarithm.
    top_db : float >= 0 or None
        Clip each harmonic's (n_bands, n_frames) plane at ``top_db`` below its
        maximum (None: no clipping, as Won et al.).

    Returns
    -------
    np.ndarray, shape (..., n_harmonic, n_bands, n_frames), dtype of ``y``

    Notes
    -----
    ``|X|^power`` and the projection on the (sparse) triangles are fused per block
    of frames, as :func:`modspec.features.melspectrogram`.

    Examples
    --------
    >>> import numpy as np, modspec.features as mf
    >>> y = np.random.default_rng(0).standard_normal((2, 16000)).astype(np.float32)
    >>> mf.harmonic_spectrogram(y, 16000).shape
    (2, 6, 128, 63)
    """
    if _backend.is_cupy(y):
        return _backend.gpu().harmonic_spectrogram(y=y, sr=sr, n_fft=n_fft, hop_length=hop_length,
            win_length=win_length, window=window, center=center, pad_mode=pad_mode, power=power,
            n_harmonic=n_harmonic, semitone_scale=semitone_scale, Q=Q, f0=f0, db=db, amin=amin, top_db=top_db)
    check_audio(y)
    power = check_power(power)
    n_fft = check_positive_int("n_fft", n_fft)
    hop_length = n_fft // 2 if hop_length is None else hop_length
    if f0 is not None:
        f0 = tuple(np.asarray(f0, dtype=np.float64).ravel().tolist())
    # Designing first validates the bank's arguments with their own messages.
    filters.harmonic(sr=sr, n_fft=n_fft, n_harmonic=n_harmonic, semitone_scale=semitone_scale, Q=Q, f0=f0)
    weights, starts, stops, (n_harmonic, n_bands) = _sparse_harmonic(
        sr, n_fft, n_harmonic, semitone_scale, float(Q), f0, y.dtype
    )
    H = _stft(
        y, n_fft=n_fft, hop_length=hop_length, win_length=win_length, window=window, center=center,
        pad_mode=pad_mode, reduce="bands", n_out=weights.shape[0], out_dtype=y.dtype, exponent=power,
        bands=(weights, starts, stops),
    )
    H = H.reshape(H.shape[:-2] + (n_harmonic, n_bands, H.shape[-1]))
    if db:
        H = power_to_db(H, ref=1.0, amin=amin, top_db=top_db)
    return H
