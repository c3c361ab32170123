"""Spectrogram preprocessing: Dieleman's log compression and Choi et al.'s normalisations.

Choi, Fazekas, Sandler & Cho (2018) compare frequency weighting (per-frequency
standardisation, A-weighting, bypass), per-sample standardisation and a ×10
scaler; Dieleman & Schrauwen (2014) compress mel spectrograms with
``log(1 + C x)``, C = 10000.
"""

import numpy as np

from modspec import _backend, filters
from modspec.errors import ParameterError, check_float_array, check_real, check_spectrogram

__all__ = ["a_weight", "log_compress", "scale", "standardize"]


@_backend.on_input_device
def log_compress(S, *, C=10000.0):
    """Dieleman's compression ``log(1 + C * S)``.

    Parameters
    ----------
    S : np.ndarray, shape (..., n_freq, n_frames), float32 or float64
        Non-negative (mel) spectrograms.
    C : float > 0
        Compression constant (10000 in Dieleman & Schrauwen 2014).

    Returns
    -------
    np.ndarray, same shape and dtype as ``S``

    Notes
    -----
    One body for NumPy and CuPy arrays: a CuPy ``S`` is computed by CuPy on
    its device.
    """
    xp = _backend.get_array_module(S)
    check_float_array("S", S, min_ndim=1)
    C = check_real("C", C, positive=True)
    if bool((S < 0).any()):
        raise ParameterError("S has negative values; log_compress expects a magnitude or power spectrogram")
    return xp.log1p(S * S.dtype.type(C))


@_backend.on_input_device
def scale(S, *, factor=10.0):
    """Multiply by a constant (Choi et al.'s ×10 scaler): ``factor * S``.

    Parameters
    ----------
    S : np.ndarray, float32 or float64
    factor : float
        The scale (10 in the paper).

    Returns
    -------
    np.ndarray, same shape and dtype as ``S``

    Notes
    -----
    One body for NumPy and CuPy arrays (a CuPy ``S`` stays on its device).
    """
    check_float_array("S", S, min_ndim=1)
    return S * S.dtype.type(check_real("factor", factor))


@_backend.on_input_device
def standardize(S, *, mode="sample", mean=None, std=None, eps=1e-8):
    """Zero-mean, unit-variance standardisation of spectrograms (Choi et al. 2018).

    Parameters
    ----------
    S : np.ndarray, shape (..., n_freq, n_frames), float32 or float64
    mode : {'sample', 'frequency'}
        'sample': one mean and std over time and frequency of each spectrogram
        (per-sample standardisation). 'frequency': a mean and std per
        frequency band, over time (per-frequency standardisation).
    mean, std : float or np.ndarray, optional
        Statistics to use instead of those of ``S`` (e.g. from a training
        set): for 'frequency' of shape (n_freq,) or (n_freq, 1). Give both or
        neither. With a CuPy ``S`` they may be NumPy or CuPy (copied to the
        device).
    eps : float > 0
        Added to the std to avoid division by zero.

    Returns
    -------
    np.ndarray, same shape and dtype as ``S``

    Notes
    -----
    One body for NumPy and CuPy arrays: a CuPy ``S`` is computed by CuPy on
    its device.
    """
    xp = _backend.get_array_module(S)
    check_spectrogram(S)
    eps = check_real("eps", eps, positive=True)
    if mode not in ("sample", "frequency"):
        raise ParameterError(f"mode={mode!r} is not supported; use 'sample' or 'frequency'")
    if (mean is None) != (std is None):
        raise ParameterError("give both mean and std, or neither (to use the statistics of S)")
    axes = (-2, -1) if mode == "sample" else (-1,)
    if mean is None:
        mean = S.mean(axis=axes, keepdims=True)
        std = S.std(axis=axes, keepdims=True)
    else:
        mean, std = xp.asarray(mean, dtype=S.dtype), xp.asarray(std, dtype=S.dtype)
        if mode == "frequency" and mean.ndim == 1:
            mean, std = mean[:, None], std[:, None]
        try:
            np.broadcast_shapes(mean.shape, std.shape, S.shape)
        except ValueError:
            raise ParameterError(
                f"mean {mean.shape} and std {std.shape} do not broadcast against S {S.shape}"
            ) from None
    return ((S - mean) / (std + S.dtype.type(eps))).astype(S.dtype, copy=False)


@_backend.on_input_device
def a_weight(S, *, frequencies, kind="db", min_db=-80.0):
    """Apply the A-weighting curve to a linear or mel spectrogram.

    Parameters
    ----------
    S : np.ndarray, shape (..., n_freq, n_frames), float32 or float64
        Spectrograms in dB (``kind='db'``), power (``'power'``) or magnitude
        (``'amplitude'``).
    frequencies : np.ndarray, shape (n_freq,)
        Frequency of each row in Hz: :func:`modspec.filters.fft_frequencies`
        for a linear spectrogram, the band centres
        ``filters.mel_frequencies(n_mels + 2, ...)[1:-1]`` for a mel one.
        With a CuPy ``S`` they may be NumPy or CuPy.
    kind : {'db', 'power', 'amplitude'}
        What ``S`` holds: the weighting is added in dB, or multiplied as
        ``10^(w/10)`` or ``10^(w/20)``.
    min_db : float or None
        Floor of the weighting in dB (as :func:`modspec.filters.a_weighting`).

    Returns
    -------
    np.ndarray, same shape and dtype as ``S``

    Notes
    -----
    One body for NumPy and CuPy arrays: the curve is computed in NumPy (one
    value per row) and, for a CuPy ``S``, copied to the device.
    """
    xp = _backend.get_array_module(S)
    check_spectrogram(S)
    if xp is not np and _backend.is_cupy(frequencies):
        frequencies = xp.asnumpy(frequencies)  # one value per row: design parameters, not signal data
    frequencies = np.asarray(frequencies, dtype=np.float64)
    if frequencies.shape != (S.shape[-2],):
        raise ParameterError(
            f"frequencies has shape {frequencies.shape}; it must be ({S.shape[-2]},), one per row of S"
        )
    weights_db = filters.a_weighting(frequencies, min_db=min_db)[:, None]
    if kind == "db":
        return (S + xp.asarray(weights_db.astype(S.dtype))).astype(S.dtype, copy=False)
    if kind in ("power", "amplitude"):
        weights = 10.0 ** (weights_db / (10.0 if kind == "power" else 20.0))
        return (S * xp.asarray(weights.astype(S.dtype))).astype(S.dtype, copy=False)
    raise ParameterError(f"kind={kind!r} is not supported; use 'db', 'power' or 'amplitude'")
