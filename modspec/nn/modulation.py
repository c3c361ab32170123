r"""Temporal-modulation front ends as torch modules: modulation filterbanks, instance norm, modulation spectrum.

The numbers are those of :mod:`modspec.features.modulation` for the same
parameters: the same designs (:func:`modspec.filters.modulation_sinc`,
:func:`modspec.filters.modulation_fir_init`), padding, strides, all-pass
channel and rectification.
"""

import numpy as np
import torch
from torch import nn

from modspec import filters
from modspec.errors import (
    ParameterError,
    check_choice,
    check_positive_int,
    check_real,
    check_sample_rate,
)
from modspec.features.learnable import RECTIFIERS
from modspec.features.modulation import (
    COMPRESSIONS,
    KINDS,
    PADDINGS,
    check_min_band,
    modulation_frame_geometry,
)
from modspec.nn._base import DesignedModule, check_same_dtype, check_tensor, full_precision
from modspec.nn._conv import correlate
from modspec.nn.learnable import rectify, sinc_filters
from modspec.nn.spectral import MelSpectrogram

__all__ = ["InstanceNorm", "ModulationFilterbank", "ModulationSpectrum"]


class ModulationFilterbank(DesignedModule):
    r"""A learnable temporal-modulation filterbank shared across bands (TMNN, ModNet, SincModNet).

    For every band f of the input and every filter m,
    ``out[..., f, m, n] = sum_j S_pad[..., f, n * stride + j] h_m[j]``
    (TMNN's :math:`S[f, m, n] = y_f[n] * h_m[n]`), optionally rectified, with
    the unfiltered envelope as an extra channel 0 (``all_pass``), exactly as
    :func:`modspec.features.modulation.modulation_filterbank`.

    Parameters
    ----------
    n_filters : int > 0
        Number of modulation filters M (20 in Vahidi et al.).
    kernel_size : int > 0
        Taps per filter K, in frames (101 in TMNN, 128 in Vahidi et al.).
    frame_rate : float > 0 or None
        Sample rate of the envelopes in Hz; required for ``kind='sinc'``.
    kind : {'sinc', 'fir'}
        'sinc' (TMNN, SincModNet): Hamming-windowed sinc band-passes whose
        cut-offs are learned, initialised by
        :func:`modspec.filters.modulation_sinc` (linear tiling of
        ``[min_mod_hz, max_mod_hz]``). 'fir' (ModNet): free taps initialised by
        :func:`modspec.filters.modulation_fir_init` (Hamming windows at 5
        positions).
    stride : int > 0
        Hop between output frames, in input frames (160 in Vahidi et al.).
    padding : {'same', 'valid'}
        As the function: 'same' pads ``(K - 1) // 2`` zeros left and ``K // 2``
        right (output frame n centred on input frame ``n * stride``).
    all_pass : bool
        Prepend the unfiltered envelope at the output frames' centres as
        channel 0 (TMNN's concatenated spectrum); never rectified.
    max_mod_hz, min_mod_hz : float
        Initial range of the sinc bank in Hz (``max_mod_hz=None``:
        ``frame_rate / 2``); 'sinc' only.
    min_band_hz : float > 0 or None
        Smallest band width of a sinc filter in Hz (constraint below); None
        means ``frame_rate / kernel_size``. It must not exceed the initial
        bands' width, so that the initial filters are those of
        :func:`modspec.filters.modulation_sinc`. 'sinc' only.
    rectify : {None, 'relu', 'abs', 'square'}
        Nonlinearity after filtering (Vahidi et al.'s :math:`|\cdot|^2` or
        ReLU), not applied to the all-pass channel.
    learnable : bool
        If True the design numbers are ``nn.Parameter``\ s, else buffers of
        the same names.

    Attributes
    ----------
    low_hz, high_hz : torch.Tensor, shape (n_filters,)
        Raw cut-offs in Hz ('sinc'); parameters or buffers.
    window : torch.Tensor, shape (kernel_size,)
        The symmetric Hamming window of the sinc filters (a buffer; 'sinc').
    filters : torch.Tensor, shape (n_filters, kernel_size)
        The taps ('fir'); a parameter or a buffer.

    Shape
    -----
    - Input: (..., n_bands, n_frames), real floating point, dtype of the
      module; ``n_frames >= kernel_size`` for 'valid'.
    - Output: (..., n_bands, n_filters + all_pass, n_frames_out), with
      ``n_frames_out = (n_frames - 1) // stride + 1`` ('same') or
      ``(n_frames - kernel_size) // stride + 1`` ('valid').

    Raises
    ------
    ParameterError
        At construction on unknown ``kind``, ``padding`` or ``rectify``,
        non-positive sizes or stride, a missing or bad ``frame_rate`` for
        'sinc', ``max_mod_hz`` above ``frame_rate / 2``, or ``min_band_hz``
        outside (0, frame_rate/2) or wider than an initial band; in
        ``forward`` on a non-tensor, integer, complex or 1-D input, a dtype
        other than the module's, no frames, or fewer frames than
        ``kernel_size`` with 'valid'.

    Notes
    -----
    The sinc filters are rebuilt from the cut-offs in every forward pass
    (:meth:`filter_bank`), after the constraint map

    .. math::

        f_1 = \mathrm{clamp}(\mathrm{low\_hz}, 0, f_N - b), \qquad
        f_2 = \min(f_1 + \max(\mathrm{high\_hz} - \mathrm{low\_hz}, b), f_N)

    with :math:`f_N` = ``frame_rate / 2`` and b = ``min_band_hz``, which keeps
    :math:`0 \le f_1 < f_2 \le f_N` and :math:`f_2 - f_1 \ge b` whatever the
    optimiser does (at a bound the clamped quantity gets no gradient).
    :func:`modspec.features.modulation.modulation_sinc_filters` applies the
    same map in NumPy, so ``modulation_filterbank(S, filters=modulation_sinc_filters(
    low_hz, high_hz, ...).filters, ...)`` reproduces a trained module.

    The designs are float64 NumPy arrays stored in torch's default dtype;
    ``.double()`` refills untrained parameters and buffers from the float64
    design (trained values are kept). The correlation is
    :func:`modspec.nn._conv.correlate`: differentiable in the input and the
    parameters, CPU or CUDA. Input values are not checked (no GPU sync).

    Examples
    --------
    >>> import torch
    >>> from modspec.nn.modulation import ModulationFilterbank
    >>> tmnn = ModulationFilterbank(4, 101, frame_rate=62.5, all_pass=True)
    >>> tmnn(torch.rand(2, 96, 313)).shape
    torch.Size([2, 96, 5, 313])
    >>> sincmodnet = ModulationFilterbank(20, 128, frame_rate=1600.0, stride=160, padding="valid", rectify="square")
    >>> sincmodnet(torch.rand(80, 8000)).shape
    torch.Size([80, 20, 50])
    """

    def __init__(
        self, n_filters=1, kernel_size=101, *, frame_rate=None, kind="sinc", stride=1, padding="same",
        all_pass=False, max_mod_hz=None, min_mod_hz=0.0, min_band_hz=None, rectify=None, learnable=True,
    ):
        super().__init__()
        self.kind = check_choice("kind", kind, KINDS)
        self.padding = check_choice("padding", padding, PADDINGS)
        self.rectify = check_choice("rectify", rectify, RECTIFIERS)
        self.stride = check_positive_int("stride", stride)
        self.frame_rate = check_sample_rate("frame_rate", frame_rate, allow_none=True)
        self.all_pass = bool(all_pass)
        self.learnable = bool(learnable)
        if self.kind == "sinc":
            if self.frame_rate is None:
                raise ParameterError(
                    "frame_rate=None: kind='sinc' designs its filters in Hz and needs the envelopes' sample rate "
                    "(frame_rate=sr / hop_length for a spectrogram)"
                )
            self.frame_rate = float(self.frame_rate)
            bank = filters.modulation_sinc(
                n_filters, kernel_size, frame_rate=self.frame_rate, max_mod_hz=max_mod_hz, min_mod_hz=min_mod_hz
            )
            kernel_size = bank.filters.shape[1]
            self.min_band_hz = check_min_band(min_band_hz, self.frame_rate, kernel_size)
            width = bank.high_hz - bank.low_hz
            if width.min() < self.min_band_hz:
                raise ParameterError(
                    f"min_band_hz={self.min_band_hz} Hz is wider than the initial bands ({width.min()} Hz: "
                    f"n_filters={len(width)} over {bank.low_hz[0]}..{bank.high_hz[-1]} Hz); pass a smaller "
                    "min_band_hz or fewer filters"
                )
            self.register_design("window", np.hamming(kernel_size))
            self.register_design("low_hz", bank.low_hz, parameter=self.learnable)
            self.register_design("high_hz", bank.high_hz, parameter=self.learnable)
        else:
            self.min_band_hz = None
            self.register_design(
                "filters", filters.modulation_fir_init(n_filters, kernel_size), parameter=self.learnable
            )

    @property
    def _reference(self):
        return "low_hz" if self.kind == "sinc" else "filters"

    @property
    def n_filters(self):
        return getattr(self, self._reference).shape[0]

    @property
    def kernel_size(self):
        return (self.window if self.kind == "sinc" else self.filters).shape[-1]

    def extra_repr(self):
        rate = "" if self.frame_rate is None else f", frame_rate={self.frame_rate}"
        return (
            f"n_filters={self.n_filters}, kernel_size={self.kernel_size}, kind={self.kind!r}{rate}, "
            f"stride={self.stride}, padding={self.padding!r}, all_pass={self.all_pass}, rectify={self.rectify!r}, "
            f"learnable={self.learnable}"
        )

    def cutoffs(self):
        """The constrained cut-offs ``(f1, f2)`` in Hz, each (n_filters,), as used in ``forward`` ('sinc' only)."""
        if self.kind != "sinc":
            raise ParameterError("cutoffs() is defined for kind='sinc' only; this bank has kind='fir'")
        nyquist = self.frame_rate / 2
        low = torch.clamp(self.low_hz, min=0.0, max=nyquist - self.min_band_hz)
        band = torch.clamp(self.high_hz - self.low_hz, min=self.min_band_hz)
        return low, torch.clamp(low + band, max=nyquist)

    def filter_bank(self):
        """The current filters, a tensor of shape (n_filters, kernel_size) (differentiable)."""
        if self.kind == "fir":
            return self.filters
        low, high = self.cutoffs()
        return sinc_filters(low, high, self.window, self.frame_rate)

    @full_precision
    def forward(self, S):
        """Filter every band envelope of ``S`` with every modulation filter.

        Parameters
        ----------
        S : torch.Tensor, shape (..., n_bands, n_frames)
            Band envelopes, in the module's dtype.

        Returns
        -------
        torch.Tensor, shape (..., n_bands, n_channels, n_frames_out)
        """
        check_tensor("S", S, min_ndim=2, layout="(..., n_bands, n_frames)")
        check_same_dtype("S", S, self, self._reference)
        kernel_size = self.kernel_size
        left, right, n_out = modulation_frame_geometry(S.shape[-1], kernel_size, self.stride, self.padding)
        x = S.reshape(-1, S.shape[-1])
        if left or right:
            x = torch.nn.functional.pad(x, (left, right))
        out = rectify(correlate(x, self.filter_bank(), self.stride), self.rectify)
        if self.all_pass:
            centre = (kernel_size - 1) // 2
            through = x[:, centre : centre + (n_out - 1) * self.stride + 1 : self.stride]
            out = torch.cat([through[:, None, :], out], dim=1)
        return out.reshape(S.shape[:-1] + out.shape[1:])


class InstanceNorm(nn.Module):
    r"""Instance normalisation per envelope channel, per example (Vahidi et al. 2021).

    As :func:`modspec.features.modulation.instance_normalize`:

    .. math:: \hat S[f, c, n] = \frac{S[f, c, n] - \mu_c}{\sqrt{\sigma_c^2 + \epsilon}}

    with the mean and population variance of channel c over bands and frames
    (``torch.nn.InstanceNorm2d`` without affine parameters on the
    channel-first view).

    Parameters
    ----------
    eps : float > 0
        Added to the variance.

    Shape
    -----
    - Input: (..., n_bands, n_channels, n_frames), at least 3 axes.
    - Output: same shape and dtype.

    Raises
    ------
    ParameterError
        At construction on a non-positive ``eps``; in ``forward`` on a
        non-tensor, integer, complex or input of fewer than 3 axes.

    Notes
    -----
    No parameters or buffers; differentiable, CPU or CUDA.

    Examples
    --------
    >>> import torch
    >>> from modspec.nn.modulation import InstanceNorm
    >>> out = InstanceNorm()(torch.rand(4, 80, 20, 50))
    >>> out.shape, bool(out.mean(dim=(1, 3)).abs().max() < 1e-5)
    (torch.Size([4, 80, 20, 50]), True)
    """

    def __init__(self, eps=1e-5):
        super().__init__()
        self.eps = check_real("eps", eps, positive=True)

    def extra_repr(self):
        return f"eps={self.eps}"

    @full_precision
    def forward(self, S):
        """Normalised ``S``.

        Parameters
        ----------
        S : torch.Tensor, shape (..., n_bands, n_channels, n_frames)

        Returns
        -------
        torch.Tensor, same shape and dtype as ``S``
        """
        check_tensor("S", S, min_ndim=3, layout="(..., n_bands, n_channels, n_frames)")
        mean = S.mean(dim=(-3, -1), keepdim=True)
        var = S.var(dim=(-3, -1), keepdim=True, correction=0)
        return (S - mean) / torch.sqrt(var + self.eps)


class ModulationSpectrum(DesignedModule):
    r"""Ding et al.'s modulation spectrum, as :func:`modspec.features.modulation.modulation_spectrum` of ``y``.

    Mel magnitude envelopes, compression, per-envelope mean removal and
    window, DFT of each envelope, RMS of the magnitudes across bands.

    Parameters
    ----------
    sr : float > 0
        Sample rate in Hz.
    n_fft : int > 0
        STFT size (512 in TMNN).
    hop_length : int > 0 or None
        STFT hop; None means ``n_fft // 2`` (TMNN's 50 % overlap).
    n_mels : int > 0
        Number of mel bands.
    fmin, fmax : float
        Mel band range in Hz (``fmax=None``: ``sr / 2``).
    compression : {'log', 'cbrt', None}
        ``log(1 + C x)``, the cube root, or none.
    C : float > 0
        Constant of the 'log' compression (see the function for the default).
    detrend : bool
        Remove each compressed envelope's mean.
    window : str, tuple, np.ndarray or None
        Taper of the envelopes (:func:`modspec.filters.get_window`, periodic,
        ``n_frames`` long); None for none.
    n_samples : int > 0, keyword-only, required
        Length of the signals the module is built for: the envelope window
        is designed once for their ``n_frames = 1 + n_samples // hop_length``
        frames. Any input length giving that many frames is accepted.

    Attributes
    ----------
    melspectrogram : modspec.nn.MelSpectrogram
        The envelope stage (``power=1``; buffers ``window`` and ``mel_fb``).
    window : torch.Tensor or None, shape (n_frames,)
        The envelope window (a buffer).
    mod_freqs : np.ndarray, shape (n_frames // 2 + 1,), float64
        The modulation frequencies of the output in Hz.

    Shape
    -----
    - Input: (..., n_samples), real floating point, dtype of the module.
    - Output: (..., n_frames // 2 + 1).

    Raises
    ------
    ParameterError
        At construction on bad STFT/mel arguments, an unknown compression or
        window, a non-positive ``C`` or ``n_samples``, or fewer than 2 frames;
        in ``forward`` on a non-tensor, integer, complex or 0-d input, a dtype
        other than the module's, or an input length giving another number of
        frames than ``n_samples``.

    Notes
    -----
    Differentiable (the RMS is a vector norm, whose gradient at zero is
    zero); CPU or CUDA. With 'log' compression, negative inputs cannot occur
    (mel magnitudes); 'cbrt' has an infinite derivative at exact zeros.

    Examples
    --------
    >>> import torch
    >>> from modspec.nn.modulation import ModulationSpectrum
    >>> module = ModulationSpectrum(sr=16000, n_samples=32000)
    >>> module(torch.rand(3, 32000) - 0.5).shape, float(module.mod_freqs[-1])
    (torch.Size([3, 64]), 31.25)
    """

    def __init__(
        self, sr=16000, n_fft=512, hop_length=None, n_mels=64, fmin=0.0, fmax=None, compression="log", C=100.0,
        detrend=True, window="hann", *, n_samples,
    ):
        super().__init__()
        n_fft = check_positive_int("n_fft", n_fft)
        if hop_length is None:
            if n_fft < 2:
                raise ParameterError(f"hop_length=None gives n_fft // 2 = 0 for n_fft={n_fft}; pass hop_length")
            hop_length = n_fft // 2
        self.hop_length = check_positive_int("hop_length", hop_length)
        self.compression = check_choice("compression", compression, COMPRESSIONS)
        self.C = check_real("C", C, positive=True)
        self.detrend = bool(detrend)
        self.n_samples = check_positive_int("n_samples", n_samples)
        self.n_frames = 1 + self.n_samples // self.hop_length
        if self.n_frames < 2:
            raise ParameterError(
                f"n_samples={self.n_samples} gives {self.n_frames} frame(s) with hop_length={self.hop_length}; "
                "a modulation spectrum needs at least 2"
            )
        self.melspectrogram = MelSpectrogram(
            sr=sr, n_fft=n_fft, hop_length=self.hop_length, n_mels=n_mels, fmin=fmin, fmax=fmax, power=1.0
        )
        if window is None:
            self.register_buffer("window", None)
        else:
            self.register_design("window", filters.get_window(window, self.n_frames))
        self.sr = sr
        self.mod_freqs = np.fft.rfftfreq(self.n_frames, d=self.hop_length / float(sr))
        self.mod_freqs.setflags(write=False)

    def extra_repr(self):
        return (
            f"n_samples={self.n_samples}, n_frames={self.n_frames}, compression={self.compression!r}, C={self.C}, "
            f"detrend={self.detrend}, window={self.window is not None}"
        )

    @full_precision
    def forward(self, y):
        """Modulation spectrum of ``y``.

        Parameters
        ----------
        y : torch.Tensor, shape (..., n_samples)

        Returns
        -------
        torch.Tensor, shape (..., n_frames // 2 + 1)
        """
        check_tensor("y", y, min_ndim=1, layout="(..., n_samples)")
        check_same_dtype("y", y, self.melspectrogram, "mel_fb")
        n_frames = 1 + y.shape[-1] // self.hop_length
        if n_frames != self.n_frames:
            raise ParameterError(
                f"y has {y.shape[-1]} samples ({n_frames} frames) but the module was built for "
                f"n_samples={self.n_samples} ({self.n_frames} frames); build it with n_samples={y.shape[-1]}"
            )
        env = self.melspectrogram(y)
        if self.compression == "log":
            env = torch.log1p(env * self.C)
        elif self.compression == "cbrt":
            env = env.sign() * env.abs().pow(1.0 / 3.0)
        if self.detrend:
            env = env - env.mean(dim=-1, keepdim=True)
        if self.window is not None:
            env = env * self.window
        E = torch.view_as_real(torch.fft.rfft(env, dim=-1))
        return torch.linalg.vector_norm(E, dim=(-3, -1)) / float(np.sqrt(env.shape[-2]))
