"""Spectrograms, mel spectrograms and decibels as torch modules.

The numbers are those of :mod:`modspec.features.spectral` (librosa's): the
same periodic window and mel bank from :mod:`modspec.filters`, the same
framing (``center``, ``pad_mode``), the same dB formula with each spectrogram
of a batch its own item for ``ref='max'`` and ``top_db``.
"""

import warnings

import numpy as np
import torch

from modspec import filters
from modspec.errors import ParameterError, check_positive_int, check_power, check_real
from modspec.nn._base import DesignedModule, check_same_dtype, check_tensor, full_precision

__all__ = ["AmplitudeToDB", "MelSpectrogram", "Spectrogram"]

_PAD_MODES = ("constant", "reflect")
_STYPES = ("power", "magnitude")


def _reflect_pad(y, pad):
    """np.pad(y, ((0, 0), (pad, pad)), mode='reflect') for any ``pad``, repeated reflection included.

    Reflection without repeating the edge sample is periodic with period
    ``2 (n - 1)``: one period is ``y`` followed by its reverse without either
    end, so the padded signal is a slice of that period tiled.
    """
    n = y.shape[-1]
    period = torch.cat([y, y.flip(-1)[..., 1:-1]], dim=-1)
    length = period.shape[-1]
    start = (-pad) % length
    reps = -(-(start + n + 2 * pad) // length)
    return period.repeat(1, reps)[..., start : start + n + 2 * pad]


class Spectrogram(DesignedModule):
    r"""Magnitude, power or complex spectrogram, as :func:`modspec.features.spectrogram`.

    Parameters
    ----------
    n_fft : int > 0
        Frame length in samples (FFT size).
    hop_length : int > 0 or None
        Hop between frames in samples; None means ``win_length // 4``.
    win_length : int or None
        Window length in samples, ``<= n_fft`` (centred in the frame); None
        means ``n_fft``.
    window : str, tuple or np.ndarray
        Window name for ``scipy.signal.get_window`` (periodic) or the window
        itself, as :func:`modspec.filters.get_window`.
    center : bool
        If True, frame ``t`` is centred at sample ``t * hop_length`` (the signal
        is padded by ``n_fft // 2`` on both sides).
    pad_mode : {'constant', 'reflect'}
        Padding when ``center`` is True.
    power : float > 0 or None
        Exponent of the magnitude: 2 gives the power spectrogram
        :math:`\mathrm{Re}^2 + \mathrm{Im}^2`, 1 the magnitude; None returns
        the complex STFT.

    Attributes
    ----------
    window : torch.Tensor, shape (n_fft,)
        The analysis window (a buffer, in the module's dtype).

    Shape
    -----
    - Input: (..., n_samples), real floating point, dtype of the module.
    - Output: (..., 1 + n_fft // 2, n_frames), real (or complex if
      ``power=None``); ``n_frames = 1 + n_samples // hop_length`` when
      centred, else ``1 + (n_samples - n_fft) // hop_length``.

    Raises
    ------
    ParameterError
        At construction on non-positive sizes, ``win_length > n_fft``, an
        unknown window or pad mode, or a bad ``power``; in ``forward`` on a
        non-tensor, integer, complex or 0-d input, an input dtype other than
        the module's, an empty signal, or ``n_fft > n_samples`` with
        ``center=False``.

    Notes
    -----
    ``torch.stft`` on CPU or CUDA tensors, differentiable with autograd. The
    window is designed once by :func:`modspec.filters.get_window` in float64
    and stored in torch's default dtype; ``.double()`` refills it from the
    float64 design. Input values are not checked (non-finite samples give
    non-finite output) so that ``forward`` never synchronises the GPU.

    Examples
    --------
    >>> import torch, modspec.nn
    >>> spec = modspec.nn.Spectrogram(n_fft=512, hop_length=256)
    >>> spec(torch.zeros(2, 16000)).shape
    torch.Size([2, 257, 63])
    """

    def __init__(
        self, n_fft=2048, hop_length=None, win_length=None, window="hann", center=True, pad_mode="constant",
        power=2.0,
    ):
        super().__init__()
        self.n_fft = check_positive_int("n_fft", n_fft)
        self.win_length = self.n_fft if win_length is None else check_positive_int("win_length", win_length)
        if hop_length is None:
            if self.win_length < 4:
                raise ParameterError(
                    f"hop_length=None gives win_length // 4 = 0 for win_length={self.win_length}; pass hop_length"
                )
            hop_length = self.win_length // 4
        self.hop_length = check_positive_int("hop_length", hop_length)
        if pad_mode not in _PAD_MODES:
            raise ParameterError(f"pad_mode={pad_mode!r} is not supported; use one of {_PAD_MODES}")
        self.pad_mode = pad_mode
        self.center = bool(center)
        self.power = check_power(power, allow_none=True)
        self.register_design("window", filters.get_window(window, self.n_fft, win_length=self.win_length))

    def extra_repr(self):
        return (
            f"n_fft={self.n_fft}, hop_length={self.hop_length}, win_length={self.win_length}, "
            f"center={self.center}, pad_mode={self.pad_mode!r}, power={self.power}"
        )

    @full_precision
    def forward(self, y):
        """Spectrogram of ``y``.

        Parameters
        ----------
        y : torch.Tensor, shape (..., n_samples)
            Signals, in the module's dtype; leading axes are kept.

        Returns
        -------
        torch.Tensor, shape (..., 1 + n_fft // 2, n_frames)
            ``|STFT(y)|^power`` in the dtype of ``y``, or the complex STFT
            (complex64 / complex128) if ``power`` is None.
        """
        check_tensor("y", y, min_ndim=1, layout="(..., n_samples)")
        check_same_dtype("y", y, self, "window")
        n_samples = y.shape[-1]
        if n_samples == 0:
            raise ParameterError(f"y has shape {tuple(y.shape)}: the signal is empty")
        y2 = y.reshape(-1, n_samples)
        center = self.center
        if center:
            if self.n_fft > n_samples:
                warnings.warn(
                    f"n_fft={self.n_fft} is too large for input signal of length={n_samples}", UserWarning,
                    stacklevel=2,
                )
            pad = self.n_fft // 2
            if self.pad_mode == "reflect" and pad >= n_samples:
                # torch reflects once only; pad the way np.pad does, then frame without centring.
                if n_samples < 2:
                    raise ParameterError(
                        f"pad_mode='reflect' needs at least 2 samples, got y of shape {tuple(y.shape)}"
                    )
                y2, center = _reflect_pad(y2, pad), False
        elif self.n_fft > n_samples:
            raise ParameterError(
                f"n_fft={self.n_fft} is too large for uncentered analysis of input signal of length={n_samples}; "
                "use center=True, a smaller n_fft or a longer signal"
            )
        D = torch.stft(
            y2, self.n_fft, hop_length=self.hop_length, win_length=self.n_fft, window=self.window, center=center,
            pad_mode=self.pad_mode, normalized=False, onesided=True, return_complex=True,
        )
        if self.power is not None:
            if self.power == 1.0:
                D = D.abs()
            else:
                D = D.real.square() + D.imag.square()
                if self.power != 2.0:
                    D = D ** (self.power / 2.0)
        return D.reshape(y.shape[:-1] + D.shape[-2:])


class MelSpectrogram(DesignedModule):
    """Mel spectrogram, as :func:`modspec.features.melspectrogram` (librosa's).

    Parameters
    ----------
    sr : float > 0
        Sample rate in Hz.
    n_fft, hop_length, win_length, window, center, pad_mode
        As :class:`Spectrogram` (``hop_length`` defaults to 512 here).
    power : float > 0
        Exponent of the STFT magnitude (2: power, 1: magnitude).
    n_mels : int > 0
        Number of mel bands.
    fmin : float >= 0
        Lowest band edge in Hz.
    fmax : float or None
        Highest band edge in Hz, at most ``sr / 2``; None means ``sr / 2``.
    htk : bool
        HTK mel scale if True, else Slaney's.
    norm : None, 'slaney' or number
        Band normalisation, as :func:`modspec.filters.mel`.

    Attributes
    ----------
    spectrogram : Spectrogram
        The STFT stage (holds the ``window`` buffer).
    mel_fb : torch.Tensor, shape (n_mels, 1 + n_fft // 2)
        The mel filterbank (a buffer, in the module's dtype).

    Shape
    -----
    - Input: (..., n_samples), real floating point, dtype of the module.
    - Output: (..., n_mels, n_frames), dtype of the input.

    Raises
    ------
    ParameterError
        As :class:`Spectrogram`, and on bad mel arguments (e.g. ``fmax``
        above Nyquist), at construction.

    Warns
    -----
    UserWarning
        At construction, if a mel band gets no FFT bin.

    Notes
    -----
    ``forward`` is ``torch.matmul(mel_fb, spectrogram(y))``, differentiable,
    on CPU or CUDA. The bank is designed once by :func:`modspec.filters.mel`
    in float64 and stored in torch's default dtype (float32 unless changed);
    ``.double()`` refills it (and the window) from the float64 design.

    Examples
    --------
    >>> import torch, modspec.nn
    >>> mel = modspec.nn.MelSpectrogram(sr=16000, n_fft=512, hop_length=256, n_mels=96)
    >>> mel(torch.zeros(4, 16000)).shape
    torch.Size([4, 96, 63])
    """

    def __init__(
        self, sr=22050, n_fft=2048, hop_length=512, win_length=None, window="hann", center=True,
        pad_mode="constant", power=2.0, n_mels=128, fmin=0.0, fmax=None, htk=False, norm="slaney",
    ):
        super().__init__()
        power = check_power(power)
        self.spectrogram = Spectrogram(
            n_fft=n_fft, hop_length=hop_length, win_length=win_length, window=window, center=center,
            pad_mode=pad_mode, power=power,
        )
        fb = filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax, htk=htk, norm=norm, dtype=np.float64)
        self.sr, self.n_mels, self.fmin, self.fmax, self.htk, self.norm = sr, n_mels, fmin, fmax, bool(htk), norm
        self.register_design("mel_fb", fb)

    def extra_repr(self):
        return (
            f"sr={self.sr}, n_mels={self.n_mels}, fmin={self.fmin}, fmax={self.fmax}, htk={self.htk}, "
            f"norm={self.norm!r}"
        )

    @full_precision
    def forward(self, y):
        """Mel spectrogram of ``y``.

        Parameters
        ----------
        y : torch.Tensor, shape (..., n_samples)
            Signals, in the module's dtype; leading axes are kept.

        Returns
        -------
        torch.Tensor, shape (..., n_mels, n_frames)
        """
        check_tensor("y", y, min_ndim=1, layout="(..., n_samples)")
        check_same_dtype("y", y, self, "mel_fb")
        return torch.matmul(self.mel_fb, self.spectrogram(y))


class AmplitudeToDB(torch.nn.Module):
    r"""Power or magnitude to decibels, as :func:`modspec.features.power_to_db` / ``amplitude_to_db``.

    .. math::

        S_\mathrm{dB} = 10 \log_{10} \frac{\max(a, S)}{\max(a, r)}
        \quad (\mathrm{power}), \qquad
        S_\mathrm{dB} = 10 \log_{10} \frac{\max(a^2, |S|^2)}{\max(a^2, r^2)}
        \quad (\mathrm{magnitude})

    with ``a = amin`` and ``r = ref``, then, with ``top_db``, each spectrogram
    clipped at ``top_db`` below its own maximum.

    Parameters
    ----------
    stype : {'power', 'magnitude'}
        What the input holds.
    ref : float or 'max'
        Reference (0 dB), a power or an amplitude like the input (its
        absolute value is used); 'max' takes the maximum of each spectrogram
        (last two axes) of the batch.
    amin : float > 0 or None
        Floor of the input and of ``ref`` (an amplitude for 'magnitude');
        None means 1e-10 for 'power' and 1e-5 for 'magnitude'.
    top_db : float >= 0 or None
        Clip each spectrogram at ``top_db`` dB below its maximum; None: no
        clipping.

    Shape
    -----
    - Input: (..., n_freq, n_frames), real floating point (complex allowed
      for 'magnitude': its modulus is used). A 1-D input is one item.
    - Output: same shape, real dtype of the input, in dB.

    Raises
    ------
    ParameterError
        At construction on a bad ``stype``, ``ref``, ``amin`` or ``top_db``;
        in ``forward`` on a non-tensor, integer or 0-d input, or complex
        input with ``stype='power'``.

    Notes
    -----
    Each spectrogram of a batch is its own item for ``ref='max'`` and
    ``top_db``, so a batch gives the same result as its items one by one
    (librosa reduces over the whole array; the two agree for one 2-D
    spectrogram). Differentiable (the floor ``amin`` and the ``top_db``
    clipping have zero gradient where they act); CPU or CUDA.
    """

    def __init__(self, stype="power", ref=1.0, amin=None, top_db=80.0):
        super().__init__()
        if stype not in _STYPES:
            raise ParameterError(f"stype={stype!r} is not supported; use one of {_STYPES}")
        if isinstance(ref, str):
            if ref != "max":
                raise ParameterError(f"ref={ref!r} is not supported; use a number or 'max'")
        else:
            ref = abs(check_real("ref", ref))
        if amin is None:
            amin = 1e-10 if stype == "power" else 1e-5
        self.stype = stype
        self.ref = ref
        self.amin = check_real("amin", amin, positive=True)
        self.top_db = None if top_db is None else check_real("top_db", top_db, nonnegative=True)

    def extra_repr(self):
        return f"stype={self.stype!r}, ref={self.ref!r}, amin={self.amin}, top_db={self.top_db}"

    @full_precision
    def forward(self, S):
        """Decibels of ``S``.

        Parameters
        ----------
        S : torch.Tensor, shape (..., n_freq, n_frames)
            Power or magnitude spectrograms.

        Returns
        -------
        torch.Tensor, same shape as ``S``, in dB
        """
        magnitude_input = self.stype == "magnitude"
        check_tensor("S", S, min_ndim=1, layout="(..., n_freq, n_frames)", allow_complex=magnitude_input)
        axes = (-2, -1) if S.ndim >= 2 else (-1,)
        if magnitude_input:
            magnitude = S.abs()
            if self.ref == "max":
                ref = magnitude.amax(dim=axes, keepdim=True).square()
            else:
                ref = self.ref**2
            power, amin = magnitude.square(), self.amin**2
        else:
            power, amin = S, self.amin
            ref = S.amax(dim=axes, keepdim=True) if self.ref == "max" else self.ref
        log_spec = 10.0 * torch.log10(torch.clamp(power, min=amin))
        if isinstance(ref, torch.Tensor):
            log_spec = log_spec - 10.0 * torch.log10(torch.clamp(ref, min=amin))
        else:
            log_spec = log_spec - 10.0 * float(np.log10(max(amin, ref)))
        if self.top_db is not None:
            peak = log_spec.amax(dim=axes, keepdim=True)
            log_spec = torch.maximum(log_spec, peak - self.top_db)
        return log_spec
