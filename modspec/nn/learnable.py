"""Learnable front ends: SincNet's band-pass convolution and Won et al.'s harmonic spectrogram."""

import numpy as np
import torch
from torch import nn

from modspec import filters
from modspec.errors import (
    ParameterError,
    check_choice,
    check_positive_int,
    check_power,
    check_real,
    check_sample_rate,
)
from modspec.features.learnable import RECTIFIERS
from modspec.nn._base import DesignedModule, check_same_dtype, check_tensor, full_precision
from modspec.nn._conv import correlate
from modspec.nn.spectral import AmplitudeToDB, Spectrogram

__all__ = ["HarmonicSpectrogram", "SincConv", "harmonic_weights", "rectify", "sinc_filters"]


def sinc_filters(low_hz, high_hz, window, rate):
    """Windowed-sinc band-passes in torch, as :func:`modspec.filters.sinc_bandpass` designs them.

    Parameters
    ----------
    low_hz, high_hz : torch.Tensor, shape (n_filters,)
        Cut-offs in Hz (already constrained).
    window : torch.Tensor, shape (kernel_size,)
        The taper (a symmetric Hamming window in the papers).
    rate : float
        Sample rate of the filtered signal in Hz.

    Returns
    -------
    torch.Tensor, shape (n_filters, kernel_size)
        ``(2 f2 sinc(2 f2 n) - 2 f1 sinc(2 f1 n)) window[n]``, f in cycles per
        sample, n centred on the kernel; differentiable in the cut-offs.
    """
    kernel_size = window.shape[0]
    # Tap positions from the window itself: same dtype and device, no device argument.
    n = torch.ones_like(window).cumsum(0) - (kernel_size + 1) / 2.0
    f1 = (low_hz / rate)[:, None]
    f2 = (high_hz / rate)[:, None]
    return (2 * f2 * torch.sinc(2 * f2 * n) - 2 * f1 * torch.sinc(2 * f1 * n)) * window


def rectify(x, kind):
    """Apply a rectification of :data:`modspec.features.learnable.RECTIFIERS` to a tensor."""
    if kind == "relu":
        return torch.relu(x)
    if kind == "abs":
        return x.abs()
    if kind == "square":
        return x.square()
    return x


class SincConv(DesignedModule):
    r"""SincNet's learnable band-pass convolution (Vahidi et al.'s 1-80-256-10 layer by default).

    Filter k is a Hamming-windowed ideal band-pass between its cut-offs
    ``f1 < f2`` (Hz), the only learned numbers (2 per filter); the layer is a
    strided "valid" convolution of the signal with every filter, then an
    optional rectification. Same numbers as :func:`modspec.features.sinc_filterbank`
    with ``low_hz, high_hz = module.cutoffs()``.

    Parameters
    ----------
    n_filters, kernel_size, stride : int > 0
        K filters of ``kernel_size`` taps, output every ``stride`` samples
        (80, 256, 10 in Vahidi et al.).
    sr : float > 0
        Sample rate in Hz (16000).
    fmin, fmax : float
        Initial cut-offs: mel-spaced between ``fmin`` and ``fmax`` Hz, as
        :func:`modspec.filters.sinc_bandpass`.
    min_low_hz, min_band_hz : float >= 0
        SincNet's constraints, applied in every forward pass
        (:func:`modspec.filters.sinc_constraints`).
    rectify : {None, 'relu', 'abs', 'square'}
        Rectification of the output.
    learnable : bool
        Cut-offs as ``nn.Parameter`` (True) or fixed buffers, both named
        ``low_hz`` and ``high_hz`` (n_filters,).

    Shape
    -----
    - Input: (..., n_samples), at least ``kernel_size`` samples.
    - Output: (..., n_filters, (n_samples - kernel_size) // stride + 1).

    Notes
    -----
    The convolution runs as FFT convolution that computes only the strided
    outputs (:func:`modspec.nn._conv.correlate`); differentiable with respect
    to the input and the cut-offs; CPU or CUDA. On CPU, when the input needs
    no gradient (audio), it runs on the numba kernels of
    :func:`modspec.features.sinc_filterbank`, with a hand-written backward
    pass for the cut-offs.

    Examples
    --------
    >>> import torch, modspec.nn
    >>> layer = modspec.nn.SincConv(rectify="relu")
    >>> layer(torch.zeros(2, 16000)).shape
    torch.Size([2, 80, 1575])
    """

    def __init__(
        self, n_filters=80, kernel_size=256, stride=10, *, sr=16000, fmin=30.0, fmax=None, min_low_hz=50.0,
        min_band_hz=50.0, rectify=None, learnable=True,
    ):
        super().__init__()
        self.sr = check_sample_rate("sr", sr)
        self.stride = check_positive_int("stride", stride)
        self.rectify = check_choice("rectify", rectify, RECTIFIERS)
        bank = filters.sinc_bandpass(
            n_filters, kernel_size, sr=sr, fmin=fmin, fmax=fmax, min_low_hz=min_low_hz, min_band_hz=min_band_hz
        )
        self.min_low_hz, self.min_band_hz = float(min_low_hz), float(min_band_hz)
        self.learnable = bool(learnable)
        self.register_design("window", np.hamming(bank.filters.shape[1]))
        self.register_design("low_hz", bank.low_hz, parameter=self.learnable)
        self.register_design("high_hz", bank.high_hz, parameter=self.learnable)

    @property
    def n_filters(self):
        return self.low_hz.shape[0]

    @property
    def kernel_size(self):
        return self.window.shape[0]

    def extra_repr(self):
        return (
            f"n_filters={self.n_filters}, kernel_size={self.kernel_size}, stride={self.stride}, sr={self.sr}, "
            f"rectify={self.rectify!r}, learnable={self.learnable}"
        )

    def cutoffs(self):
        """The constrained cut-offs ``(f1, f2)`` in Hz, each (n_filters,), as used in ``forward``."""
        nyquist = self.sr / 2
        low = torch.clamp(self.low_hz, min=self.min_low_hz, max=nyquist - self.min_band_hz)
        band = torch.clamp(self.high_hz - self.low_hz, min=self.min_band_hz)
        return low, torch.clamp(low + band, max=nyquist)

    def filters(self):
        """The current filters, (n_filters, kernel_size)."""
        low, high = self.cutoffs()
        return sinc_filters(low, high, self.window, self.sr)

    @full_precision
    def forward(self, y):
        """Filter ``y`` with every band-pass.

        Parameters
        ----------
        y : torch.Tensor, shape (..., n_samples)

        Returns
        -------
        torch.Tensor, shape (..., n_filters, n_frames)
        """
        check_tensor("y", y, min_ndim=1, layout="(..., n_samples)")
        check_same_dtype("y", y, self, "window")
        if y.shape[-1] < self.kernel_size:
            raise ParameterError(
                f"y has {y.shape[-1]} samples, fewer than kernel_size={self.kernel_size}; pass a longer signal"
            )
        out = correlate(y.reshape(-1, y.shape[-1]), self.filters(), self.stride)
        return rectify(out, self.rectify).reshape(y.shape[:-1] + out.shape[1:])


def harmonic_weights(f0, Q, fft_freqs, n_harmonic):
    """Won et al.'s harmonic triangles in torch, as :func:`modspec.filters.harmonic` designs them.

    Parameters
    ----------
    f0 : torch.Tensor, shape (n_bands,)
        Fundamentals in Hz.
    Q : torch.Tensor, shape ()
        Quality factor dividing every bandwidth.
    fft_freqs : torch.Tensor, shape (n_freq,)
        Frequencies of the FFT bins in Hz.
    n_harmonic : int

    Returns
    -------
    torch.Tensor, shape (n_harmonic, n_bands, n_freq)
        Triangles of peak 1 and base width ``(0.1079 f + 24.7) / Q`` centred on
        ``h * f0``; differentiable in ``f0`` and ``Q``.
    """
    harmonics = torch.arange(1, n_harmonic + 1, dtype=f0.dtype, device=f0.device)
    centres = (harmonics[:, None] * f0[None, :])[..., None]
    bandwidth = (0.1079 * centres + 24.7) / Q
    distance = 2.0 * (fft_freqs - centres) / bandwidth
    return torch.clamp(torch.minimum(1.0 + distance, 1.0 - distance), min=0.0)


class HarmonicSpectrogram(DesignedModule):
    r"""Won et al.'s harmonic spectrogram with a learnable bandwidth (and optionally learnable f0).

    The power STFT projected on harmonic triangular filters (band b's harmonic
    h centred on ``h * f0[b]``, base width ``(0.1079 f + 24.7) / Q``), then
    ``10 log10(max(x, amin))``: the front end of Harmonic-CNN and TMNN. Same
    numbers as :func:`modspec.features.harmonic_spectrogram` for the same
    ``Q`` and ``f0``.

    Parameters
    ----------
    sr : float > 0
        Sample rate in Hz (16000).
    n_fft, hop_length, win_length, window, center, pad_mode, power
        The STFT, as :class:`modspec.nn.Spectrogram`; ``hop_length=None``
        means ``n_fft // 2`` (TMNN's 50 % overlap).
    n_harmonic, semitone_scale : int > 0
        Harmonics (6, or 1 for a mel-like bank) and bands per semitone (2).
    Q : float > 0
        Initial quality factor.
    learn_Q, learn_f0 : bool
        Make ``Q`` (shape ()) and ``f0`` (n_bands,, Hz) ``nn.Parameter`` objects; else
        they are buffers of the same names. Won et al. learn Q.
    db : bool
        Return decibels (True) or the linear projection.
    amin : float > 0
        Floor before the logarithm.
    top_db : float >= 0 or None
        Clip each harmonic's plane at ``top_db`` below its maximum.

    Shape
    -----
    - Input: (..., n_samples)
    - Output: (..., n_harmonic, n_bands, n_frames)

    Examples
    --------
    >>> import torch, modspec.nn
    >>> front = modspec.nn.HarmonicSpectrogram(sr=16000)
    >>> front(torch.zeros(2, 16000)).shape
    torch.Size([2, 6, 128, 63])
    """

    def __init__(
        self, sr=16000, n_fft=512, hop_length=None, win_length=None, window="hann", center=True,
        pad_mode="constant", power=2.0, n_harmonic=6, semitone_scale=2, Q=1.0, *, learn_Q=True, learn_f0=False,
        db=True, amin=1e-10, top_db=None,
    ):
        super().__init__()
        n_fft = check_positive_int("n_fft", n_fft)
        self.spectrogram = Spectrogram(
            n_fft=n_fft, hop_length=n_fft // 2 if hop_length is None else hop_length, win_length=win_length,
            window=window, center=center, pad_mode=pad_mode, power=check_power(power),
        )
        Q = check_real("Q", Q, positive=True)
        bank = filters.harmonic(sr=sr, n_fft=n_fft, n_harmonic=n_harmonic, semitone_scale=semitone_scale, Q=Q)
        self.sr, self.n_harmonic, self.semitone_scale = sr, bank.weights.shape[0], semitone_scale
        self.register_design("fft_freqs", filters.harmonic_fft_frequencies(sr, n_fft))
        self.register_design("Q", np.array(Q), parameter=bool(learn_Q))
        self.register_design("f0", bank.center_hz[0], parameter=bool(learn_f0))
        self.to_db = AmplitudeToDB("power", ref=1.0, amin=amin, top_db=top_db) if db else None

    def extra_repr(self):
        return (
            f"sr={self.sr}, n_harmonic={self.n_harmonic}, n_bands={self.f0.shape[0]}, "
            f"learn_Q={isinstance(self.Q, nn.Parameter)}, learn_f0={isinstance(self.f0, nn.Parameter)}"
        )

    def weights(self):
        """The current filterbank, (n_harmonic, n_bands, n_freq)."""
        return harmonic_weights(self.f0, self.Q, self.fft_freqs, self.n_harmonic)

    @full_precision
    def forward(self, y):
        """Harmonic spectrogram of ``y``.

        Parameters
        ----------
        y : torch.Tensor, shape (..., n_samples)

        Returns
        -------
        torch.Tensor, shape (..., n_harmonic, n_bands, n_frames)
        """
        check_tensor("y", y, min_ndim=1, layout="(..., n_samples)")
        check_same_dtype("y", y, self, "fft_freqs")
        S = self.spectrogram(y)
        weights = self.weights()
        H = torch.matmul(weights.reshape(-1, weights.shape[-1]), S)
        H = H.reshape(S.shape[:-2] + weights.shape[:2] + S.shape[-1:])
        return H if self.to_db is None else self.to_db(H)
