r"""ModNet and SincModNet: Vahidi, Saitis & Fazekas (2021), *A Modulation Front-End for Music Audio Tagging*.

The front end (the paper's Table I) is

=====================================  ==============================
sinc band-pass convolution             1-80-256-10 (:class:`modspec.nn.SincConv`)
nonlinearity r1                        ReLU (or :math:`|\cdot|^2`)
learnable FIR or sinc convolution      80-20-128-160, shared across bands
                                       (:class:`modspec.nn.ModulationFilterbank`)
nonlinearity r2                        :math:`|\cdot|^2` (or ReLU)
normalisation                          instance (:class:`modspec.nn.InstanceNorm`)
=====================================  ==============================

and gives, for a 5 s window at 16 kHz, 20 modulation channels x 80 bands x
50 frames; the back end is a Harmonic-CNN-like ResNet of seven 2-D
convolutional layers of 256 channels with batch norm and ReLU, global
pooling and a dense layer (sigmoid outputs, binary cross-entropy).
"""

import textwrap

from torch import nn

from modspec.errors import ParameterError, check_choice, check_positive_int, check_real
from modspec.features.learnable import RECTIFIERS
from modspec.models._base import TaggingModel
from modspec.models.resnet import ConvBlock2d, ConvClassifier, ResidualBlock2d
from modspec.nn import InstanceNorm, ModulationFilterbank, SincConv
from modspec.nn._base import check_tensor
from modspec.nn.learnable import rectify

__all__ = ["BandMaxPool", "ModulationFrontEnd", "modnet", "modulation_backend", "sincmodnet"]

# Table I and Section II-A: 80 sinc filters of 256 taps, stride 10 samples (at 16 kHz).
N_BANDS, SINC_KERNEL, SINC_STRIDE = 80, 256, 10
# Section II-B: seven 2-D convolutional layers of 256 channels.
N_LAYERS, N_CHANNELS = 7, 256
# The strides the paper uses: 160 frames for the modulation filters (Table I), 128 for max-pooling (Table II).
DEFAULT_STRIDE = {"fir": 160, "sinc": 160, "maxpool": 128}
NORMS = ("instance", None)
# Instance norm's epsilon. r2 = |.|^2 makes the envelopes scale with the square of the input level, so
# their variance with the fourth power: about 1e-11 for noise of RMS 0.1, 1e-19 at RMS 0.001 (-60 dBFS).
# torch's 1e-5 would swamp it and leave the representation unnormalised; 1e-20 normalises down to -60 dBFS
# while still guarding an exactly constant channel (float32 and float64).
NORM_EPS = 1e-20


class BandMaxPool(nn.Module):
    """Max-pooling of every band over time: the paper's baseline in place of the modulation filters.

    Parameters
    ----------
    kernel_size, stride : int > 0
        Pooling window and hop in frames (128 and 128 in the paper's Table II).

    Shape
    -----
    - Input: (..., n_bands, n_frames), ``n_frames >= kernel_size``.
    - Output: (..., n_bands, 1, (n_frames - kernel_size) // stride + 1): one
      channel, laid out as a modulation filterbank's output.
    """

    def __init__(self, kernel_size=128, stride=128):
        super().__init__()
        self.kernel_size = check_positive_int("kernel_size", kernel_size)
        self.stride = check_positive_int("stride", stride)

    def extra_repr(self):
        return f"kernel_size={self.kernel_size}, stride={self.stride}"

    def forward(self, S):
        """Pooled ``S`` (..., n_bands, 1, n_frames_out)."""
        check_tensor("S", S, min_ndim=2, layout="(..., n_bands, n_frames)")
        if S.shape[-1] < self.kernel_size:
            raise ParameterError(
                f"S has {S.shape[-1]} frames, fewer than kernel_size={self.kernel_size}; pass a longer signal"
            )
        out = nn.functional.max_pool1d(S.reshape(-1, 1, S.shape[-1]), self.kernel_size, self.stride)
        return out.reshape(S.shape[:-1] + out.shape[1:])


class ModulationFrontEnd(nn.Module):
    r"""Vahidi et al.'s modulation front end: waveform (B, n_samples) -> (B, n_channels, n_bands, n_frames).

    ``norm(r2(modulation(r1(sinc(y)))))``, with the channel axis (modulation
    filter) moved first for the 2-D back end (the paper's Fig. 1: "each
    channel represents a different modulation rate").

    Parameters
    ----------
    sinc : modspec.nn.SincConv
        Time-frequency analysis with r1 as its ``rectify``.
    modulation : modspec.nn.ModulationFilterbank or BandMaxPool
        Applied to every band's envelope; a filterbank applies r2 itself.
    r2 : {None, 'relu', 'abs', 'square'}
        Applied after :class:`BandMaxPool` (a filterbank is built with it).
    norm : modspec.nn.InstanceNorm or None
        Per-channel, per-example normalisation.

    Shape
    -----
    - Input: (batch, n_samples)
    - Output: (batch, n_channels, n_bands, n_frames), e.g. (batch, 20, 80, 50)
      for 5 s at 16 kHz with the paper's settings.
    """

    def __init__(self, sinc, modulation, *, r2=None, norm=None):
        super().__init__()
        self.sinc = sinc
        self.modulation = modulation
        self.r2 = check_choice("r2", r2, RECTIFIERS)
        self.norm = nn.Identity() if norm is None else norm

    def extra_repr(self):
        return f"r2={self.r2!r}" if isinstance(self.modulation, BandMaxPool) else ""

    def forward(self, y):
        """Modulation representation (batch, n_channels, n_bands, n_frames) of waveforms (batch, n_samples)."""
        S = self.modulation(self.sinc(y))  # (batch, n_bands, n_channels, n_frames)
        if isinstance(self.modulation, BandMaxPool):
            S = rectify(S, self.r2)
        return self.norm(S).transpose(-3, -2)


def modulation_backend(in_channels, n_classes):
    """The paper's back end: seven 2-D layers of 256 channels, global max-pooling, a dense layer.

    Layer 1 is a plain convolution block (``in_channels`` -> 256, as
    Harmonic-CNN's ``Conv_2d``), layers 2-7 residual blocks (Harmonic-CNN's
    ``Res_2d_mp``); every layer has 3x3 kernels, batch norm, ReLU and a 2x2
    max-pooling that keeps partial windows, so the (80 bands, 50 frames)
    map of a 5 s window shrinks to 1 x 1 and shorter windows still work.

    Parameters
    ----------
    in_channels : int > 0
        Channels of the front end (modulation filters; 1 for max-pooling).
    n_classes : int > 0

    Returns
    -------
    ConvClassifier
        (batch, in_channels, n_bands, n_frames) -> logits (batch, n_classes).
    """
    blocks = [ConvBlock2d(in_channels, N_CHANNELS, 3, pool=2, ceil_mode=True)]
    blocks += [ResidualBlock2d(N_CHANNELS, N_CHANNELS, 3, pool=2, ceil_mode=True) for _ in range(N_LAYERS - 1)]
    return ConvClassifier(blocks, n_features=N_CHANNELS, n_classes=n_classes, global_pool="max")


# The docstring text ModNet and SincModNet share, from ``n_filters`` to the end of the notes they have in
# common; ``_shared_doc`` puts it in place of the ``..shared::`` line of each builder's docstring.
_SHARED_DOC = r"""
n_filters : int > 0
    Number of modulation filters (Table III compares 5, 10, 15 and 20;
    20 is the best and the default). Ignored by 'maxpool'.
kernel_size : int > 0
    Taps of the modulation filters, or pooling window, in frames (128,
    Tables I-III).
stride : int > 0 or None
    Hop of the modulation layer in frames; None is the paper's: 160 for
    the filters (Table I; Fig. 4 varies it), 128 for 'maxpool' (Table II).
r1 : {'relu', 'square', 'abs', None}
    Nonlinearity after the sinc layer (Table IV; 'relu' in the reported
    models, None is Table IV's "-").
r2 : {'square', 'relu', 'abs', None}
    Nonlinearity after the modulation layer (Table IV; 'square',
    :math:`|\cdot|^2`, in the reported models).
norm : {'instance', None}
    Instance normalisation per modulation channel and example (the
    reported models), or none.
duration : float > 0
    Training window in seconds (5, Section II-C); ``n_samples =
    round(duration * sample_rate)``. It must give at least
    ``kernel_size`` sinc frames (0.0954 s at 16 kHz with the defaults).

Returns
-------
TaggingModel
    ``frontend`` (:class:`ModulationFrontEnd`): waveform (B, n_samples)
    -> (B, n_filters, 80, n_frames), with ``n_frames = (n_sinc - kernel_size)
    // stride + 1`` and ``n_sinc = (n_samples - 256) // 10 + 1``: (B, 20,
    80, 50) for 5 s at 16 kHz (max-pooling: (B, 1, 80, 62));
    ``backend`` (:func:`modulation_backend`) -> logits (B, n_classes);
    loss 'bce' (sigmoid outputs, multi-label tagging).

Raises
------
ParameterError
    On a value outside the lists above, or a ``duration`` too short for
    the front end.

Notes
-----
Where the paper leaves details open:

- The sinc layer follows SincNet (Ravanelli & Bengio 2018), which the
  paper builds on: cut-offs initialised on the mel scale from 30 Hz to
  ``sample_rate / 2 - 100`` Hz, Hamming window, minimum low cut-off and
  band width 50 Hz (:func:`modspec.filters.sinc_bandpass`).
- The paper writes the modulation stride both as "160 samples (10 ms)"
  and as applied to the 1600 Hz envelopes; 160 frames there are 100 ms.
  Table I's 80-20-128-160 is followed: a 'valid' convolution with hop 160
  frames, 10 output frames per second, 50 for a 5 s window.
- "Seven 2D convolutional layers ... similar to HarmonicCNN": Harmonic-CNN's
  code (Won et al., ``sota-music-tagging-models``) has seven layers, a
  plain convolution block then residual blocks of two 3x3 convolutions,
  each followed by 2x2 max-pooling, then global max-pooling over time.
  Here all seven have 256 channels (the paper) and the pooling keeps
  partial windows (80 x 50 is not a power of two), ending at 1 x 1 for a
  5 s window; a global max over both axes covers shorter or longer windows.
- "The final layer is a densely connected layer": one dense layer from
  256 features to ``n_classes`` (Harmonic-CNN's extra hidden dense layer
  and dropout are not mentioned and not used).
- The authors' repository (``rastegah/modnet``) holds no code, so none
  of these can be checked against it.
- Instance norm uses epsilon 1e-20, not torch's 1e-5: after ``r2 = |.|^2``
  the envelopes' variance is about 1e-11 for audio of RMS 0.1 (it scales
  with the fourth power of the level), which 1e-5 would swamp, leaving
  the representation unnormalised instead of per-channel standardised.
- Table I names L2 weight normalisation as an alternative to instance
  norm; the reported models use instance norm, the only one offered.
"""


def _shared_doc(builder):
    """Put :data:`_SHARED_DOC`, indented as the marker line, in place of the ``..shared::`` line of ``builder``."""
    lines = builder.__doc__.splitlines(keepends=True)
    at = next(i for i, line in enumerate(lines) if line.lstrip().startswith("..shared::"))
    indent = lines[at][: len(lines[at]) - len(lines[at].lstrip())]
    lines[at] = textwrap.indent(_SHARED_DOC.lstrip("\n"), indent, lambda line: line.strip())
    builder.__doc__ = "".join(lines)
    return builder


def _vahidi(name, kind, *, n_classes, sample_rate, modulation, n_filters, kernel_size, stride, r1, r2, norm, duration):
    """Validate the options and build ModNet (``kind='fir'``) or SincModNet (``kind='sinc'``)."""
    modulation = check_choice("modulation", modulation, (kind, "maxpool"))
    n_filters = check_positive_int("n_filters", n_filters)
    kernel_size = check_positive_int("kernel_size", kernel_size)
    stride = DEFAULT_STRIDE[modulation] if stride is None else check_positive_int("stride", stride)
    r1 = check_choice("r1", r1, RECTIFIERS)
    r2 = check_choice("r2", r2, RECTIFIERS)
    norm = check_choice("norm", norm, NORMS)
    duration = check_real("duration", duration, positive=True)
    n_samples = round(duration * sample_rate)
    # The sinc layer needs one kernel of samples, the modulation layer one kernel of frames ('valid').
    n_frames = (n_samples - SINC_KERNEL) // SINC_STRIDE + 1 if n_samples >= SINC_KERNEL else 0
    if n_frames < kernel_size:
        shortest = (SINC_KERNEL + (kernel_size - 1) * SINC_STRIDE) / sample_rate
        raise ParameterError(
            f"duration={duration} s gives {n_samples} samples, {n_frames} sinc frames, fewer than "
            f"kernel_size={kernel_size}; {name} needs duration >= {shortest:g} s at {sample_rate:g} Hz"
        )

    sinc = SincConv(N_BANDS, SINC_KERNEL, SINC_STRIDE, sr=sample_rate, rectify=r1)
    if modulation == "maxpool":
        layer, n_channels = BandMaxPool(kernel_size, stride), 1
    else:
        layer = ModulationFilterbank(
            n_filters, kernel_size, frame_rate=sample_rate / SINC_STRIDE if kind == "sinc" else None, kind=kind,
            stride=stride, padding="valid", rectify=r2,
        )
        n_channels = n_filters
    frontend = ModulationFrontEnd(sinc, layer, r2=r2, norm=InstanceNorm(NORM_EPS) if norm == "instance" else None)
    return TaggingModel(
        frontend, modulation_backend(n_channels, n_classes), sample_rate=sample_rate, n_samples=n_samples,
        n_classes=n_classes, loss="bce",
    )


@_shared_doc
def modnet(
    *, n_classes=50, sample_rate=16000, modulation="fir", n_filters=20, kernel_size=128, stride=None, r1="relu",
    r2="square", norm="instance", duration=5.0,
):
    r"""ModNet: sinc filterbank, learnable FIR modulation filters, ResNet back end (Vahidi et al. 2021).

    C. Vahidi, C. Saitis, G. Fazekas (2021), "A Modulation Front-End for
    Music Audio Tagging", IJCNN. Sinc band-pass convolution 1-80-256-10,
    r1, 20 learnable FIR filters of 128 taps shared across the 80 bands
    (hop 160 frames), r2, instance norm; a 7-layer ResNet of 256 channels;
    MTAT ROC-AUC 0.8874 (Table V).

    Parameters
    ----------
    n_classes : int > 0
        Number of tags (50: MTAT's top 50).
    sample_rate : float > 0
        Input rate in Hz (16000 in the paper). The sinc layer's kernel and
        stride stay 256 and 10 *samples*, so the envelopes' rate is
        ``sample_rate / 10`` (1600 Hz).
    modulation : {'fir', 'maxpool'}
        'fir': free FIR taps (:class:`modspec.nn.ModulationFilterbank` with
        kind='fir'), each initialised as a Hamming window at one of 5
        positions (:func:`modspec.filters.modulation_fir_init`, after Tüske
        et al. 2018): kernel_size x n_filters parameters.
        'maxpool': the paper's baseline (Table II), a max-pooling of every
        band over ``kernel_size`` frames with hop ``stride`` in place of the
        modulation filters (one channel).
    ..shared:: the parameters from n_filters on, Returns, Raises and the Notes of both builders
    - Fig. 8 describes ModNet's learned FIR filters as "of length 80", Table
      I as 128 taps; 128 is used for both models.

    Examples
    --------
    >>> import torch
    >>> from modspec.models import build
    >>> model = build("modnet")
    >>> model.n_samples, model.frontend(torch.zeros(1, model.n_samples)).shape
    (80000, torch.Size([1, 20, 80, 50]))
    """
    return _vahidi(
        "modnet", "fir", n_classes=n_classes, sample_rate=sample_rate, modulation=modulation, n_filters=n_filters,
        kernel_size=kernel_size, stride=stride, r1=r1, r2=r2, norm=norm, duration=duration,
    )


@_shared_doc
def sincmodnet(
    *, n_classes=50, sample_rate=16000, modulation="sinc", n_filters=20, kernel_size=128, stride=None, r1="relu",
    r2="square", norm="instance", duration=5.0,
):
    r"""SincModNet: sinc filterbank, sinc band-pass modulation filters, ResNet back end (Vahidi et al. 2021).

    C. Vahidi, C. Saitis, G. Fazekas (2021), "A Modulation Front-End for
    Music Audio Tagging", IJCNN. Sinc band-pass convolution 1-80-256-10,
    r1, 20 sinc band-pass modulation filters of 128 taps shared across the
    80 bands (hop 160 frames), r2, instance norm; a 7-layer ResNet of 256
    channels; MTAT ROC-AUC 0.8939, PR-AUC 0.4039 (Tables III and V).

    Parameters
    ----------
    n_classes : int > 0
        Number of tags (50: MTAT's top 50).
    sample_rate : float > 0
        Input rate in Hz (16000 in the paper). The sinc layer's kernel and
        stride stay 256 and 10 *samples*, so the envelopes' rate is
        ``sample_rate / 10`` (1600 Hz).
    modulation : {'sinc', 'maxpool'}
        'sinc': Hamming-windowed sinc band-passes with learned cut-offs
        (:class:`modspec.nn.ModulationFilterbank` with kind='sinc'),
        initialised on a linear scale tiling 0-800 Hz (the range the paper
        reports: half the 1600 Hz envelope rate): 2 x n_filters parameters.
        'maxpool': the paper's baseline (Table II), a max-pooling of every
        band over ``kernel_size`` frames with hop ``stride`` in place of the
        modulation filters (one channel).
    ..shared:: the parameters from n_filters on, Returns, Raises and the Notes of both builders

    Examples
    --------
    >>> import torch
    >>> from modspec.models import build
    >>> model = build("sincmodnet")
    >>> model.frontend(torch.zeros(1, 5 * 16000)).shape
    torch.Size([1, 20, 80, 50])
    """
    return _vahidi(
        "sincmodnet", "sinc", n_classes=n_classes, sample_rate=sample_rate, modulation=modulation,
        n_filters=n_filters, kernel_size=kernel_size, stride=stride, r1=r1, r2=r2, norm=norm, duration=duration,
    )
