r"""Temporal modulation: envelopes, modulation filterbanks and modulation spectra.

Three front ends of the papers this project implements filter the envelope of
every frequency band with a bank of temporal-modulation filters shared across
bands:

- TMNN (Ma & Stern 2022): Hamming-windowed sinc band-passes of 101 taps at the
  spectrogram frame rate, ``S[f, m, n] = y_f[n] * h_m[n]``, with the unfiltered
  spectrum concatenated as an all-pass channel;
- ModNet and SincModNet (Vahidi et al. 2021): 20 learnable FIR filters or sinc
  band-passes of 128 taps, strided by 160 on 1.6 kHz band envelopes, then
  ``|.|^2`` or ReLU and instance normalisation.

The modulation spectrum of Ding et al. (TMNN's Fig. 1) is a feature of its own:
band envelopes, compression, DFT of each envelope, RMS across bands.

Everything here takes NumPy arrays with any leading batch shape; float32 stays
float32 and float64 stays float64. The correlations run in
:func:`modspec.kernels.cpu.correlate`. :func:`envelope`,
:func:`instance_normalize` and :func:`modulation_spectrum` have one body for
NumPy and CuPy arrays (``xp = _backend.get_array_module(...)``): a CuPy input
is computed by CuPy on its device.
"""

import functools
import numbers
import types

import numpy as np
import scipy.fft

from modspec import _backend
from modspec import filters as _design
from modspec.errors import (
    ParameterError,
    check_audio,
    check_choice,
    check_dtype,
    check_float_array,
    check_positive_int,
    check_real,
    check_sample_rate,
    check_spectrogram,
)
from modspec.features.learnable import RECTIFIERS
from modspec.features.preprocess import log_compress
from modspec.features.spectral import melspectrogram
from modspec.kernels import cpu

__all__ = [
    "envelope",
    "instance_normalize",
    "modulation_filterbank",
    "modulation_sinc_filters",
    "modulation_spectrum",
]

ENVELOPES = ("abs", "square", "halfwave", "hilbert")
KINDS = ("sinc", "fir")
PADDINGS = ("same", "valid")
COMPRESSIONS = (None, "log", "cbrt")


# --------------------------------------------------------------------------- validators shared with modspec.nn


def check_min_band(min_band_hz, frame_rate, kernel_size):
    """The smallest band width of a learned sinc modulation filter in Hz (None: ``frame_rate / kernel_size``)."""
    nyquist = frame_rate / 2
    if min_band_hz is None:
        return frame_rate / kernel_size
    min_band_hz = check_real("min_band_hz", min_band_hz, positive=True)
    if min_band_hz >= nyquist:
        raise ParameterError(
            f"min_band_hz={min_band_hz} Hz must be below the Nyquist frequency frame_rate/2 = {nyquist} Hz"
        )
    return min_band_hz


def modulation_frame_geometry(n_frames, kernel_size, stride, padding):
    """Left and right zero padding and the number of output frames of a modulation filterbank.

    'same' pads ``(K - 1) // 2`` frames on the left and ``K // 2`` on the right
    (output frame n centred on input frame ``n * stride``, torch's 'same'
    convention for even K), 'valid' pads nothing. Raises a ParameterError if
    the envelopes are empty or, for 'valid', shorter than the kernel.
    """
    if n_frames == 0:
        raise ParameterError("S has 0 frames (last axis); pass at least one envelope frame")
    if padding == "same":
        left, right = (kernel_size - 1) // 2, kernel_size // 2
    else:
        left = right = 0
        if n_frames < kernel_size:
            raise ParameterError(
                f"kernel_size={kernel_size} is longer than the {n_frames} frames of S: padding='valid' needs at "
                f"least kernel_size frames; use padding='same', a shorter kernel or longer envelopes"
            )
    return left, right, (n_frames + left + right - kernel_size) // stride + 1


def _check_axis(axis, ndim):
    if isinstance(axis, bool) or not isinstance(axis, numbers.Integral) or not -ndim <= axis < ndim:
        raise ParameterError(f"axis={axis!r} must be an integer in [{-ndim}, {ndim - 1}] for x of {ndim} axes")
    return int(axis) % ndim


def _check_bank(bank, dtype):
    """An explicit filter bank, (n_filters, kernel_size), as a C-contiguous array of ``dtype``.

    NumPy arrays and sequences give a NumPy array, CuPy arrays a CuPy array
    (checked on their device).
    """
    xp = _backend.get_array_module(bank)
    array = xp.asarray(bank)
    if array.dtype.kind not in "fiu":
        raise ParameterError(f"filters has dtype {array.dtype}; pass real filter taps (float32 or float64)")
    if array.ndim != 2 or 0 in array.shape:
        raise ParameterError(
            f"filters has shape {array.shape}; it must be 2-D (n_filters, kernel_size) with at least one tap"
        )
    if not bool(xp.isfinite(array).all()):
        raise ParameterError("filters contains non-finite values (NaN or inf)")
    return xp.ascontiguousarray(array, dtype=dtype)


def _modulation_setup(S, frame_rate, kind, n_filters, kernel_size, stride, padding, max_mod_hz, min_mod_hz, filters,
                      rectify):
    """Validated ``(bank, stride, left, right, n_out)`` of a modulation_filterbank call, for both backends.

    ``bank`` (n_filters, K) is the given ``filters`` (NumPy or CuPy, as given)
    or a designed host array, which the GPU path moves to the device.
    Finiteness of ``S`` is not checked here: see :func:`modulation_filterbank`.
    """
    check_float_array("S", S, min_ndim=2)
    stride = check_positive_int("stride", stride)
    check_choice("padding", padding, PADDINGS)
    check_choice("kind", kind, KINDS)
    check_choice("rectify", rectify, RECTIFIERS)
    frame_rate = check_sample_rate("frame_rate", frame_rate, allow_none=True)
    if filters is not None:
        bank = _check_bank(filters, S.dtype)
    elif kind == "sinc":
        if frame_rate is None:
            raise ParameterError(
                "frame_rate=None: kind='sinc' designs its filters in Hz and needs the envelopes' sample rate "
                "(frame_rate=sr / hop_length for a spectrogram)"
            )
        bank = _design.modulation_sinc(
            n_filters, kernel_size, frame_rate=frame_rate, max_mod_hz=max_mod_hz, min_mod_hz=min_mod_hz,
            dtype=S.dtype,
        ).filters
    else:
        bank = _design.modulation_fir_init(n_filters, kernel_size, dtype=S.dtype)
    left, right, n_out = modulation_frame_geometry(S.shape[-1], bank.shape[1], stride, padding)
    return bank, stride, left, right, n_out


# --------------------------------------------------------------------------- envelopes

#: The FFTs of the NumPy path: scipy's, on all cores.
_CPU_FFT = types.SimpleNamespace(
    rfft=functools.partial(scipy.fft.rfft, workers=-1), ifft=functools.partial(scipy.fft.ifft, workers=-1)
)


def _fft(xp):
    """The FFT functions for arrays of ``xp``: scipy's multithreaded ones for NumPy, ``xp.fft`` (cuFFT) otherwise."""
    return _CPU_FFT if xp is np else xp.fft


@_backend.on_input_device
def envelope(x, *, kind="abs", axis=-1):
    r"""Envelope of band signals: rectification or the Hilbert envelope.

    Parameters
    ----------
    x : np.ndarray, shape (..., n_samples), float32 or float64
        Band-pass signals (e.g. the output of a sinc or gammatone filterbank).
    kind : {'abs', 'square', 'halfwave', 'hilbert'}
        'abs': :math:`|x|`; 'square': :math:`x^2` (instantaneous power);
        'halfwave': :math:`\max(x, 0)` (half-wave rectification, as in
        Dau's auditory model); 'hilbert': the modulus of the analytic signal
        :math:`|x + i\,\mathcal{H}\{x\}|` along ``axis``, equal to
        ``np.abs(scipy.signal.hilbert(x, axis=axis))``.
    axis : int
        Time axis of the Hilbert transform (the elementwise kinds do not use
        it, but it is still validated).

    Returns
    -------
    np.ndarray, same shape and dtype as ``x``

    Raises
    ------
    ParameterError
        On integer, complex, empty or non-finite input, an unknown ``kind`` or
        an ``axis`` out of range.

    Notes
    -----
    The Hilbert envelope is computed by FFT over the whole axis (circular):
    a real FFT, the one-sided spectrum doubled, an inverse complex FFT of
    length ``n_samples``. It is exact for periodic signals and has edge
    effects otherwise. float32 input is transformed in single precision.

    One body for NumPy and CuPy arrays: a CuPy ``x`` is computed by CuPy on
    its device (the FFTs by cuFFT, scipy's on all cores for NumPy).

    Examples
    --------
    >>> import numpy as np
    >>> from modspec.features.modulation import envelope
    >>> t = np.arange(1600) / 1600
    >>> x = 0.5 * np.sin(2 * np.pi * 100 * t)
    >>> bool(np.allclose(envelope(x, kind="hilbert"), 0.5))
    True
    >>> envelope(np.array([-2.0, 3.0]), kind="halfwave")
    array([0., 3.])
    """
    xp = _backend.get_array_module(x)
    check_audio(x, name="x")
    check_choice("kind", kind, ENVELOPES)
    axis = _check_axis(axis, x.ndim)
    if kind == "abs":
        return xp.abs(x)
    if kind == "square":
        return xp.square(x)
    if kind == "halfwave":
        return xp.maximum(x, x.dtype.type(0))
    n = x.shape[axis]
    h = np.zeros(n // 2 + 1, dtype=x.dtype)
    h[0] = 1
    h[1 : (n + 1) // 2] = 2
    if n % 2 == 0:
        h[n // 2] = 1
    shape = [1] * x.ndim
    shape[axis] = h.size
    fft = _fft(xp)
    Z = fft.rfft(x, axis=axis)
    Z *= xp.asarray(h.reshape(shape))  # the one-sided weights, designed on the host
    return xp.abs(fft.ifft(Z, n=n, axis=axis)).astype(x.dtype, copy=False)


# --------------------------------------------------------------------------- modulation filterbank


def modulation_sinc_filters(low_hz, high_hz, *, kernel_size, frame_rate, min_band_hz=None, dtype=np.float64):
    """Sinc modulation filters of given (e.g. learned) cut-offs, constrained as by ``ModulationFilterbank``.

    The cut-offs first go through the constraint map that
    :class:`modspec.nn.ModulationFilterbank` applies in every forward pass,

    ``f1 = clip(low_hz, 0, frame_rate/2 - min_band_hz)``,
    ``f2 = min(f1 + max(high_hz - low_hz, min_band_hz), frame_rate/2)``,

    then each filter is the Hamming-windowed ideal band-pass [f1, f2] of
    :func:`modspec.filters.modulation_sinc` (unit pass-band gain). Pass the
    result's ``filters`` to :func:`modulation_filterbank` to reproduce a
    trained module with NumPy.

    Parameters
    ----------
    low_hz, high_hz : array_like, shape (n_filters,)
        Raw cut-offs in Hz (``module.low_hz``, ``module.high_hz``).
    kernel_size : int > 0
        Taps per filter.
    frame_rate : float > 0
        Sample rate of the envelopes in Hz.
    min_band_hz : float > 0 or None
        Smallest band width in Hz, below ``frame_rate / 2``; None means
        ``frame_rate / kernel_size`` (the module's default).
    dtype : np.float32 or np.float64
        dtype of the filters (designed in float64).

    Returns
    -------
    modspec.filters.SincBank
        ``filters`` (n_filters, kernel_size) and the constrained ``low_hz``,
        ``high_hz`` (n_filters,) in Hz (float64).

    Raises
    ------
    ParameterError
        On non-finite or mismatched cut-offs, non-positive sizes or rates, or
        ``min_band_hz`` outside (0, frame_rate/2).

    Examples
    --------
    >>> import numpy as np
    >>> from modspec.features.modulation import modulation_sinc_filters
    >>> bank = modulation_sinc_filters([-1.0, 4.0], [4.0, 4.1], kernel_size=101, frame_rate=62.5)
    >>> bank.filters.shape, bank.low_hz.tolist(), np.round(bank.high_hz, 4).tolist()
    ((2, 101), [0.0, 4.0], [5.0, 4.6188])
    """
    frame_rate = float(check_sample_rate("frame_rate", frame_rate))
    kernel_size = check_positive_int("kernel_size", kernel_size)
    min_band_hz = check_min_band(min_band_hz, frame_rate, kernel_size)
    dtype = check_dtype(dtype)
    low_hz = np.asarray(low_hz, dtype=np.float64)
    high_hz = np.asarray(high_hz, dtype=np.float64)
    if low_hz.ndim != 1 or low_hz.shape != high_hz.shape or low_hz.size == 0:
        raise ParameterError(
            f"low_hz and high_hz must be 1-D of the same non-zero length, got shapes {low_hz.shape} and {high_hz.shape}"
        )
    if not (np.isfinite(low_hz).all() and np.isfinite(high_hz).all()):
        raise ParameterError("low_hz and high_hz must be finite (Hz)")
    low, high = _design.sinc_constraints(low_hz, high_hz, sr=frame_rate, min_low_hz=0.0, min_band_hz=min_band_hz)
    bank = _design._sinc_filters(low, high, kernel_size, frame_rate).astype(dtype)
    return _design.SincBank(bank, low, high)


@_backend.on_input_device
def modulation_filterbank(
    S, *, frame_rate=None, kind="sinc", n_filters=1, kernel_size=101, stride=1, padding="same", all_pass=False,
    max_mod_hz=None, min_mod_hz=0.0, filters=None, rectify=None,
):
    r"""Filter every band envelope with one bank of temporal-modulation filters (TMNN, ModNet, SincModNet).

    TMNN's equation (1), for every band f and modulation filter m,

    .. math:: S_\mathrm{out}[f, m, n] = \sum_j \tilde y_f[n s + j]\, h_m[j]

    with :math:`\tilde y_f` the (padded) envelope of band f, s the stride and
    :math:`h_m` the m-th filter: a cross-correlation, as ``torch.nn.functional.conv1d``
    (the filters are linear-phase, so this is also the convolution
    ``y_f * h_m`` up to the alignment).

    Parameters
    ----------
    S : np.ndarray, shape (..., n_bands, n_frames), float32 or float64
        Band envelopes (a magnitude, power or log spectrogram, or rectified
        filterbank outputs), ``frame_rate`` frames per second.
    frame_rate : float > 0 or None
        Sample rate of the envelopes in Hz (``sr / hop_length`` for a
        spectrogram: 62.5 Hz in TMNN, 1600 Hz in SincModNet). Needed for
        ``kind='sinc'`` without ``filters``; otherwise optional (validated if
        given, not used).
    kind : {'sinc', 'fir'}
        'sinc': ``n_filters`` Hamming-windowed sinc band-passes tiling
        ``[min_mod_hz, max_mod_hz]`` linearly
        (:func:`modspec.filters.modulation_sinc`: TMNN, SincModNet). 'fir':
        ModNet's initial FIR bank, Hamming windows at 5 positions
        (:func:`modspec.filters.modulation_fir_init`).
    n_filters : int > 0
        Number of modulation filters M (1 by default; 20 in Vahidi et al.).
    kernel_size : int > 0
        Taps per filter K, in frames (101 in TMNN, 128 in Vahidi et al.).
    stride : int > 0
        Hop between output frames, in input frames (1 in TMNN, 160 in Vahidi
        et al.).
    padding : {'same', 'valid'}
        'valid': no padding, ``(n_frames - K) // stride + 1`` output frames
        (needs ``n_frames >= K``). 'same': zero-pad ``(K - 1) // 2`` frames
        on the left and ``K // 2`` on the right, so that output frame n is
        centred on input frame ``n * stride`` (between ``n * stride`` and the
        next frame for even K): ``(n_frames - 1) // stride + 1`` output frames.
    all_pass : bool
        Prepend the unfiltered envelope, sampled at the centres of the output
        frames (input frame ``n * stride + (K - 1) // 2`` of the padded
        envelope), as channel 0: TMNN's concatenation of the original
        spectrum, an all-pass "filter" (a unit impulse at tap ``(K - 1) // 2``).
    max_mod_hz : float or None
        Highest modulation frequency of the sinc bank in Hz, at most
        ``frame_rate / 2``; None means ``frame_rate / 2`` ('sinc' only).
    min_mod_hz : float >= 0
        Lowest modulation frequency of the sinc bank in Hz ('sinc' only).
    filters : array_like, shape (n_filters, kernel_size), optional
        An explicit filter bank (e.g. learned taps, or
        ``modulation_sinc_filters(...).filters`` for learned cut-offs); it
        overrides ``kind``, ``n_filters``, ``kernel_size``, ``max_mod_hz`` and
        ``min_mod_hz``, and is cast to the dtype of ``S``.
    rectify : {None, 'relu', 'abs', 'square'}
        Nonlinearity applied to the filtered channels (Vahidi et al.'s
        :math:`|\cdot|^2` or ReLU). The all-pass channel is never rectified:
        it is the input envelope itself, a skip connection.

    Returns
    -------
    np.ndarray, shape (..., n_bands, n_channels, n_frames_out), dtype of ``S``
        ``n_channels = n_filters + all_pass``.

    Raises
    ------
    ParameterError
        On integer, complex or non-finite ``S`` or fewer than 2 axes; unknown
        ``kind``, ``padding`` or ``rectify``; non-positive sizes, stride or
        frame rate; ``kind='sinc'`` without ``frame_rate``; ``max_mod_hz``
        above ``frame_rate / 2``; a kernel longer than the envelopes with
        ``padding='valid'``; a ``filters`` array that is not 2-D, finite and
        real.

    Notes
    -----
    The filters are designed once (memoised, in the dtype of ``S``); the
    correlation of every band with every filter runs in
    :func:`modspec.kernels.cpu.correlate`, rectification fused. The same
    numbers come from :class:`modspec.nn.ModulationFilterbank`.

    Examples
    --------
    TMNN: 96 bands at 62.5 frames per second (5 s), 4 sinc filters of 101
    taps and the all-pass channel:

    >>> import numpy as np
    >>> from modspec.features.modulation import modulation_filterbank
    >>> S = np.random.default_rng(0).random((96, 313)).astype(np.float32)
    >>> out = modulation_filterbank(S, frame_rate=62.5, n_filters=4, all_pass=True)
    >>> out.shape, out.dtype
    ((96, 5, 313), dtype('float32'))

    SincModNet: 80 band envelopes at 1.6 kHz (5 s), 20 filters of 128 taps,
    stride 160 (10 ms):

    >>> S = np.random.default_rng(0).random((2, 80, 8000)).astype(np.float32)
    >>> modulation_filterbank(S, frame_rate=1600.0, n_filters=20, kernel_size=128, stride=160,
    ...                       padding="valid", rectify="square").shape
    (2, 80, 20, 50)
    """
    if _backend.is_cupy(S):
        return _backend.gpu().modulation_filterbank(S=S, frame_rate=frame_rate, kind=kind, n_filters=n_filters,
            kernel_size=kernel_size, stride=stride, padding=padding, all_pass=all_pass, max_mod_hz=max_mod_hz,
            min_mod_hz=min_mod_hz, filters=filters, rectify=rectify)
    # Finiteness is checked on the (smaller) output below: a NaN or inf that any
    # filter reads makes its outputs non-finite, and reading S once more would
    # cost as much as the filtering itself.
    bank, stride, left, right, n_out = _modulation_setup(
        S, frame_rate, kind, n_filters, kernel_size, stride, padding, max_mod_hz, min_mod_hz, filters, rectify
    )
    if _backend.is_cupy(bank):
        raise ParameterError("filters is a CuPy array but S is not; pass both on the same device")
    kernel_size = bank.shape[1]
    x = np.ascontiguousarray(S.reshape(-1, S.shape[-1]))
    out = cpu.correlate(x, bank, stride, left=left, right=right, rectify=rectify)
    if all_pass:
        # The centre tap (K - 1) // 2 of the padded envelope is frame t * stride of S itself ('same'
        # pads exactly that many frames on the left, 'valid' none).
        centre = (kernel_size - 1) // 2 - left
        through = x[:, centre : centre + (n_out - 1) * stride + 1 : stride]
        out = np.concatenate([through[:, None, :], out], axis=1)
    if not np.isfinite(out).all():
        raise ParameterError("S contains non-finite values (NaN or inf) where the modulation filters read it")
    return out.reshape(S.shape[:-1] + out.shape[1:])


@_backend.on_input_device
def instance_normalize(S, *, eps=1e-5):
    r"""Instance normalisation per envelope channel, per example (Vahidi et al. 2021).

    "Mean-variance normalisation per envelope channel, per audio example": for
    every example and every channel c of a modulation filterbank output,

    .. math:: \hat S[f, c, n] = \frac{S[f, c, n] - \mu_c}{\sqrt{\sigma_c^2 + \epsilon}}

    with :math:`\mu_c` and :math:`\sigma_c^2` the mean and (population)
    variance of channel c over bands f and frames n: ``torch.nn.InstanceNorm2d``
    without affine parameters, on the channel-first view (c, f, n).

    Parameters
    ----------
    S : np.ndarray, shape (..., n_bands, n_channels, n_frames), float32 or float64
        Output of :func:`modulation_filterbank`; leading axes are examples.
    eps : float > 0
        Added to the variance (units of ``S`` squared).

    Returns
    -------
    np.ndarray, same shape and dtype as ``S``

    Raises
    ------
    ParameterError
        On integer, complex or non-finite input, fewer than 3 axes, or a
        non-positive ``eps``.

    Notes
    -----
    One body for NumPy and CuPy arrays: a CuPy ``S`` is computed by CuPy on
    its device.

    Examples
    --------
    >>> import numpy as np
    >>> from modspec.features.modulation import instance_normalize
    >>> S = np.random.default_rng(0).random((80, 20, 50))
    >>> Z = instance_normalize(S)
    >>> bool(np.allclose(Z.mean(axis=(0, 2)), 0)), bool(np.allclose(Z.var(axis=(0, 2)), 1, atol=1e-3))
    (True, True)
    """
    xp = _backend.get_array_module(S)
    check_float_array("S", S, min_ndim=3)
    if not bool(xp.isfinite(S).all()):
        raise ParameterError("S contains non-finite values (NaN or inf)")
    eps = check_real("eps", eps, positive=True)
    mean = S.mean(axis=(-3, -1), keepdims=True)
    var = S.var(axis=(-3, -1), keepdims=True)
    return ((S - mean) / xp.sqrt(var + S.dtype.type(eps))).astype(S.dtype, copy=False)


# --------------------------------------------------------------------------- modulation spectrum


@_backend.on_input_device
def modulation_spectrum(
    y=None, *, sr=16000, S=None, frame_rate=None, n_fft=512, hop_length=None, n_mels=64, fmin=0.0, fmax=None,
    compression="log", C=100.0, detrend=True, window="hann",
):
    r"""The modulation spectrum of Ding et al. (2017), TMNN's Fig. 1: RMS over bands of the envelopes' spectra.

    1. Band envelopes :math:`y_f[n]`: the mel magnitude spectrogram of ``y``
       (``power=1``), or the given envelopes ``S``.
    2. Compression :math:`g_f = c(y_f)`.
    3. Each envelope's mean removed (``detrend``), then a window :math:`w`.
    4. DFT of each envelope, :math:`E_f(k) = \sum_n w[n] (g_f[n] - \bar g_f) e^{-2\pi i k n / N}`.
    5. RMS across bands: :math:`M(k) = \sqrt{\frac{1}{F} \sum_f |E_f(k)|^2}`.

    Parameters
    ----------
    y : np.ndarray, shape (..., n_samples), float32 or float64, optional
        Signals. Give either ``y`` or ``S``.
    sr : float > 0
        Sample rate of ``y`` in Hz.
    S : np.ndarray, shape (..., n_bands, n_frames), optional
        Band envelopes (non-negative for ``compression='log'``).
    frame_rate : float > 0
        Sample rate of ``S`` in Hz; required with ``S`` and refused with ``y``
        (where it is ``sr / hop_length``).
    n_fft : int > 0
        STFT size (with ``y``; 512 in TMNN).
    hop_length : int > 0 or None
        STFT hop (with ``y``); None means ``n_fft // 2`` (TMNN's 50 % overlap:
        62.5 frames per second at 16 kHz).
    n_mels, fmin, fmax
        The mel bands (with ``y``), as :func:`modspec.features.melspectrogram`
        (Slaney mel scale and normalisation, centred frames).
    compression : {'log', 'cbrt', None}
        The compressive nonlinearity f(.): 'log' is Dieleman's
        ``log(1 + C x)`` (:func:`modspec.features.log_compress`), 'cbrt' the
        cube root (Stevens' power law of loudness), None none.
    C : float > 0
        Constant of the 'log' compression (validated always, used only
        there). ``log(1 + C x)`` is logarithmic above ``x ~ 1 / C`` and linear
        below: with the default 100 that floor lies about 45 dB below the mel
        magnitude of a full-scale tone (about 2.5 with the defaults). The RMS
        weighs every band equally, so a much larger C (Dieleman's 10000 for
        spectrograms) lets near-silent bands count as much as loud ones: for
        an amplitude-modulated pure tone, the window leakage of its sidebands
        in distant bands then beats at twice the modulation rate and can
        outweigh the modulation itself.
    detrend : bool
        Remove each compressed envelope's mean before windowing.
    window : str, tuple, np.ndarray or None
        Taper of the envelopes before the DFT, as
        :func:`modspec.filters.get_window` for ``n_frames`` (periodic); None
        means none (rectangular).

    Returns
    -------
    spectrum : np.ndarray, shape (..., n_frames // 2 + 1), dtype of the input
        :math:`M(k)`, unnormalised DFT magnitudes (divide by the window's sum
        to compare envelopes of different lengths). Leading axes are those of
        ``y``, or of ``S`` without its band axis.
    mod_freqs : np.ndarray, shape (n_frames // 2 + 1,), float64
        Modulation frequencies in Hz, ``rfftfreq(n_frames, 1 / frame_rate)``.

    Raises
    ------
    ParameterError
        Neither or both of ``y`` and ``S``; ``frame_rate`` missing with ``S``
        or given with ``y``; bad STFT/mel arguments; fewer than 2 envelope
        frames; an unknown compression or window; negative envelopes with
        'log' compression.

    Notes
    -----
    One body for NumPy and CuPy arrays: a CuPy ``y`` or ``S`` is computed by
    CuPy on its device (the mel step by the GPU
    :func:`modspec.features.melspectrogram`, the window designed in NumPy
    and copied by :func:`modspec._backend.to_device`, the DFT by cuFFT) and
    ``spectrum`` is a CuPy array; ``mod_freqs`` (metadata) stays a NumPy
    array, as the frequencies of :func:`modspec.features.scalogram`.

    Examples
    --------
    A 1 kHz tone, amplitude-modulated at 4 Hz, 2 s at 16 kHz:

    >>> import numpy as np
    >>> from modspec.features.modulation import modulation_spectrum
    >>> t = np.arange(32000) / 16000
    >>> y = (1 + 0.5 * np.sin(2 * np.pi * 4 * t)) * np.sin(2 * np.pi * 1000 * t)
    >>> spectrum, mod_freqs = modulation_spectrum(y, sr=16000)
    >>> spectrum.shape, float(mod_freqs[-1])
    ((64,), 31.25)
    >>> float(round(mod_freqs[np.argmax(spectrum[3:]) + 3], 1))
    4.0
    """
    xp = _backend.get_array_module(y, S)
    if (y is None) == (S is None):
        raise ParameterError("give exactly one of y (signal) or S (band envelopes)")
    check_choice("compression", compression, COMPRESSIONS)
    C = check_real("C", C, positive=True)
    if y is not None:
        if frame_rate is not None:
            raise ParameterError(
                f"frame_rate={frame_rate!r} goes with S only; with y the frame rate is sr / hop_length"
            )
        check_audio(y)
        n_fft = check_positive_int("n_fft", n_fft)
        if hop_length is None:
            if n_fft < 2:
                raise ParameterError(f"hop_length=None gives n_fft // 2 = 0 for n_fft={n_fft}; pass hop_length")
            hop_length = n_fft // 2
        hop_length = check_positive_int("hop_length", hop_length)
        env = melspectrogram(y, sr=sr, n_fft=n_fft, hop_length=hop_length, n_mels=n_mels, fmin=fmin, fmax=fmax,
                             power=1.0)
        frame_rate = float(sr) / hop_length
    else:
        check_spectrogram(S)
        if frame_rate is None:
            raise ParameterError("frame_rate=None: with S give the envelopes' sample rate in Hz (sr / hop_length)")
        frame_rate = float(check_sample_rate("frame_rate", frame_rate))
        if compression == "log" and bool((S < 0).any()):
            raise ParameterError("S has negative values; compression='log' needs non-negative envelopes")
        env = S
    n_frames = env.shape[-1]
    if n_frames < 2:
        raise ParameterError(
            f"the envelopes have {n_frames} frame(s); a modulation spectrum needs at least 2 (a longer signal)"
        )
    dtype = env.dtype
    if compression == "log":
        env = log_compress(env, C=C)
    elif compression == "cbrt":
        env = xp.cbrt(env)
    if detrend:
        env = env - env.mean(axis=-1, keepdims=True)
    if window is not None:
        taper = _design.get_window(window, n_frames, dtype=dtype)
        env = env * (taper if xp is np else _backend.to_device(taper, env))
    E = _fft(xp).rfft(env, axis=-1)
    spectrum = xp.sqrt(xp.mean(xp.square(E.real) + xp.square(E.imag), axis=-2))
    return spectrum.astype(dtype, copy=False), np.fft.rfftfreq(n_frames, d=1.0 / frame_rate)
