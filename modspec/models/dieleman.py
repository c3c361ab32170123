"""Dieleman & Schrauwen (2014): log-mel or raw-audio front end, a small 1-D CNN back end.

Sander Dieleman and Benjamin Schrauwen, "End-to-end learning for music audio",
ICASSP 2014. The back end (the paper's Fig. 1) convolves and pools along time
only: 2 x (conv1d 32 filters of length 8, ReLU, max-pool 4), dense 100 (ReLU),
dense 50 (sigmoid). The front end is a 128-band mel spectrogram compressed
with ``log(1 + C x)``, C = 10000 (Fig. 1a), or one strided convolution of the
raw waveform (Fig. 1b), optionally followed by feature pooling across groups
of filters (Fig. 1c).
"""

import math
import numbers
from collections import OrderedDict

import torch
from torch import nn

from modspec.errors import (
    ParameterError,
    check_positive_int,
    check_real,
    check_sample_rate,
)
from modspec.models._base import TaggingModel
from modspec.nn import LogCompression, MelSpectrogram
from modspec.nn._base import check_tensor

__all__ = ["DielemanCNN", "StridedConvFrontend", "dieleman2014"]

# (length, stride) pairs of the paper's Table 1, for the spectrogram and the strided convolution alike.
LENGTH_STRIDE = ((1024, 1024), (1024, 512), (512, 512), (512, 256), (256, 256))
STRIDES = (1024, 512, 256)
NONLINEARITIES = ("relu", "log_square", "log_abs")
POOLINGS = ("none", "l2", "max")
POOL_SIZES = (2, 4)
N_MELS = 128
N_FFT = 1024  # the mel path's FFT size: windows of `length` samples zero-padded to 1024 points
N_FILTERS = 32  # every back-end convolution
KERNEL_SIZE = 8
POOL = 4
N_HIDDEN = 100


def _check_int_choice(name, value, allowed):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or int(value) not in allowed:
        raise ParameterError(f"{name}={value!r} is not supported; use one of {allowed}")
    return int(value)


def _pooled_length(n):
    """Frames after ``max-pool 4`` as Theano pooled (``ignore_border=False``: a partial last pool is kept)."""
    return math.ceil(n / POOL)


class StridedConvFrontend(nn.Module):
    r"""Dieleman & Schrauwen's raw-audio front end: a strided convolution, feature pooling, a nonlinearity.

    .. math::

        z_k[t] = b_k + \sum_{n=0}^{L-1} w_k[n] \, x[t s + n], \qquad
        y_g[t] = f\big(\mathrm{pool}_{k \in g} \, z_k[t]\big)

    with filter length :math:`L`, stride :math:`s`, groups :math:`g` of
    ``pool_size`` consecutive filters, the pool :math:`\max_k z_k` ('max') or
    :math:`\sqrt{\sum_k z_k^2}` ('l2'), and :math:`f` the nonlinearity.

    Parameters
    ----------
    length : int > 0
        Filter length in samples.
    stride : int > 0
        Hop between filter positions in samples.
    n_filters : int > 0
        Number of filters; a multiple of ``pool_size``.
    nonlinearity : {'relu', 'log_square', 'log_abs'}
        :math:`f`: :math:`\max(0, x)`, :math:`\log(1 + C x^2)` or
        :math:`\log(1 + C |x|)` (the paper's Table 2).
    C : float > 0
        Compression constant of the logarithmic nonlinearities
        (dimensionless).
    pooling : {'none', 'l2', 'max'}
        Feature pooling across groups of filters (the paper's Table 3).
    pool_size : int > 0
        Filters per group: 1 for 'none', more for 'l2' and 'max'.

    Attributes
    ----------
    conv : torch.nn.Conv1d
        The strided convolution, ``weight`` of shape (n_filters, 1, length).
    n_features : int
        ``n_filters // pool_size``: the rows of the output.

    Shape
    -----
    - Input: (B, n_samples), real floating point, dtype of the module.
    - Output: (B, n_features, n_frames), ``n_frames = 1 + (n_samples -
      length) // stride``.

    Raises
    ------
    ParameterError
        On a non-positive size, an unknown nonlinearity or pooling, a pool
        size that does not fit the pooling, or ``n_filters`` not a multiple
        of ``pool_size``.

    Notes
    -----
    The nonlinearity follows the pool. For ReLU this is the same as
    max-pooling ReLU units (ReLU is monotone), and L2 pooling acts on the
    linear filter outputs, as in Hyvärinen & Hoyer's energy model that the
    paper cites; the L2 norm's gradient at 0 is taken as 0.
    """

    def __init__(self, length, stride, n_filters=128, *, nonlinearity="relu", C=10000.0, pooling="none",
                 pool_size=1):
        super().__init__()
        if nonlinearity not in NONLINEARITIES:
            raise ParameterError(f"nonlinearity={nonlinearity!r} is not supported; use one of {NONLINEARITIES}")
        if pooling not in POOLINGS:
            raise ParameterError(f"pooling={pooling!r} is not supported; use one of {POOLINGS}")
        length, stride = check_positive_int("length", length), check_positive_int("stride", stride)
        n_filters, pool_size = check_positive_int("n_filters", n_filters), check_positive_int("pool_size", pool_size)
        if (pooling == "none") != (pool_size == 1):
            raise ParameterError(f"pool_size={pool_size} does not fit pooling={pooling!r}: use 1 with 'none', else > 1")
        if n_filters % pool_size:
            raise ParameterError(f"n_filters={n_filters} is not a multiple of pool_size={pool_size}")
        self.length, self.stride, self.n_filters = length, stride, n_filters
        self.nonlinearity, self.C = nonlinearity, check_real("C", C, positive=True)
        self.pooling, self.pool_size = pooling, pool_size
        self.n_features = n_filters // pool_size
        self.conv = nn.Conv1d(1, n_filters, length, stride=stride)

    def extra_repr(self):
        return (
            f"nonlinearity={self.nonlinearity!r}, C={self.C}, pooling={self.pooling!r}, "
            f"pool_size={self.pool_size}, n_features={self.n_features}"
        )

    def n_frames(self, n_samples):
        """Output frames for ``n_samples`` input samples (0 if shorter than one filter)."""
        return max(0, 1 + (n_samples - self.length) // self.stride)

    def forward(self, waveform):
        """Features (B, n_features, n_frames) of waveforms (B, n_samples)."""
        check_tensor("waveform", waveform, min_ndim=2, layout="(batch, n_samples)")
        z = self.conv(waveform.unsqueeze(-2))  # (B, n_filters, n_frames)
        if self.pooling != "none":
            groups = z.unflatten(1, (self.n_features, self.pool_size))
            # vector_norm's gradient at 0 is 0, where sqrt(sum z^2) would give NaN
            z = groups.amax(dim=2) if self.pooling == "max" else torch.linalg.vector_norm(groups, dim=2)
        if self.nonlinearity == "relu":
            return torch.relu(z)
        return torch.log1p(self.C * (z.square() if self.nonlinearity == "log_square" else z.abs()))


class DielemanCNN(nn.Sequential):
    """Dieleman & Schrauwen's back end: 2 x (conv1d 32 x 8, ReLU, max-pool 4), dense 100, dense n_classes.

    Parameters
    ----------
    n_features : int > 0
        Rows (features) of the front end's output: 128 mel bands, or the
        strided convolution's ``n_features``.
    n_frames : int > 0
        Frames of the front end's output for one training window.
    n_classes : int > 0
        Outputs (logits; the paper's top layer is 50 sigmoid units).

    Shape
    -----
    - Input: (B, n_features, n_frames).
    - Output: (B, n_classes).

    Notes
    -----
    Convolutions are unpadded ('valid') and each max-pool keeps a partial last
    pool, Theano's defaults when the paper was written
    (``conv2d(border_mode='valid')``, ``max_pool_2d(ignore_border=False)``):
    frames go ``T -> ceil((T - 7) / 4) -> ceil((ceil((T - 7) / 4) - 7) / 4)``,
    and the dense layer sees ``32 x`` that many features.
    """

    def __init__(self, n_features, n_frames, n_classes):
        n_out = self.output_frames(n_frames)
        if n_out < 1:
            raise ParameterError(
                f"a window of {n_frames} frames is too short for the back end (two convolutions of length "
                f"{KERNEL_SIZE}, each followed by a max-pool of {POOL}); use a longer duration"
            )
        super().__init__(OrderedDict([
            ("conv1", nn.Conv1d(n_features, N_FILTERS, KERNEL_SIZE)),
            ("relu1", nn.ReLU()),
            ("pool1", nn.MaxPool1d(POOL, ceil_mode=True)),
            ("conv2", nn.Conv1d(N_FILTERS, N_FILTERS, KERNEL_SIZE)),
            ("relu2", nn.ReLU()),
            ("pool2", nn.MaxPool1d(POOL, ceil_mode=True)),
            ("flatten", nn.Flatten()),
            ("dense1", nn.Linear(N_FILTERS * n_out, N_HIDDEN)),
            ("relu3", nn.ReLU()),
            ("dense2", nn.Linear(N_HIDDEN, n_classes)),
        ]))

    @staticmethod
    def output_frames(n_frames):
        """Frames left after both conv + pool stages (< 1: the window is too short)."""
        for _ in range(2):
            n_frames = n_frames - KERNEL_SIZE + 1
            if n_frames < 1:
                return 0
            n_frames = _pooled_length(n_frames)
        return n_frames


def dieleman2014(
    *, n_classes=50, sample_rate=16000, frontend="mel", stride=256, length=None, n_filters=128,
    nonlinearity="relu", C=10000.0, pooling="none", pool_size=None, duration=3.0,
):
    r"""Dieleman & Schrauwen's tagging CNN on a log-mel spectrogram or on raw audio.

    Sander Dieleman and Benjamin Schrauwen (2014), "End-to-end learning for
    music audio", ICASSP 2014, pp. 6964-6968.

    Front end (``frontend``):

    - 'mel': a 128-band mel spectrogram (Slaney mel scale and norm, 0 Hz to
      ``sample_rate / 2``) with windows of ``length`` and hop ``stride``
      samples, compressed as :math:`\log(1 + C x)` with C = 10000 (the
      paper's Sec. 4.2). Output (B, 128, n_frames).
    - 'raw': one strided convolution of the waveform (``n_filters`` filters
      of ``length`` samples, hop ``stride``), optional feature pooling across
      groups of filters, then ``nonlinearity``
      (:class:`StridedConvFrontend`). Output (B, n_filters / pool_size,
      n_frames).

    Back end (:class:`DielemanCNN`): conv1d (32 filters of length 8) along
    time, ReLU, max-pool 4, the same again, dense 100 (ReLU), dense
    ``n_classes`` (logits; sigmoid predictions, binary cross-entropy loss).

    Parameters
    ----------
    n_classes : int > 0
        Number of tags (50 in the paper: MagnaTagATune's top 50).
    sample_rate : float > 0
        Rate of the input in Hz; the paper's audio is 16 kHz. Lengths and
        strides are in samples at this rate.
    frontend : {'mel', 'raw'}
        Log-mel spectrogram (Fig. 1a) or raw audio (Fig. 1b, 1c).
    stride : {1024, 512, 256}
        Hop of the spectrogram frames or of the strided convolution, in
        samples (the paper's Table 1).
    length : {1024, 512, 256} or None
        Window (mel) or filter (raw) length in samples: ``stride`` or
        ``2 * stride`` up to 1024, the pairs of Table 1. None means
        ``stride``.
    n_filters : int > 0
        'raw' only: filters of the strided convolution; a multiple of the
        pool size.
    nonlinearity : {'relu', 'log_square', 'log_abs'}
        'raw' only: :math:`\max(0, x)`, :math:`\log(1 + C x^2)` or
        :math:`\log(1 + C |x|)` after the strided convolution (Table 2).
    C : float > 0
        Compression constant: of the mel path's :math:`\log(1 + C x)`, and of
        the logarithmic nonlinearities of the raw path.
    pooling : {'none', 'l2', 'max'}
        'raw' only: feature pooling across groups of filters (Table 3).
    pool_size : {2, 4} or None
        Filters per feature-pooling group (Table 3); None means 4 (Fig. 4's
        pools) with 'l2' or 'max'. Must be None with ``pooling='none'``.
    duration : float > 0
        Training window in seconds (the paper: "windows of about 3 seconds");
        ``n_samples = round(duration * sample_rate)``.

    Returns
    -------
    TaggingModel
        ``forward(waveform (B, n_samples)) -> logits (B, n_classes)``, loss
        'bce'. :meth:`TaggingModel.predict_clip` averages the predictions of
        consecutive windows over whole clips, as the paper evaluates.

    Raises
    ------
    ParameterError
        On an unknown option value (e.g. ``stride=300``, an unknown
        nonlinearity, ``pool_size=3``), raw-only options with
        ``frontend='mel'``, or a window too short for the back end.

    Notes
    -----
    Where the paper is silent:

    - Filters of the strided convolution: 128 (``n_filters``), as many as
      the spectrogram path's mel bands, so that without feature pooling both
      paths give the back end 128 features per frame; pooling then reduces
      them to 64 or 32, as the paper says it reduces "the effective number of
      features" and the next layer's parameters.
    - The mel spectrogram: magnitude (power 1), frames centred on
      ``t * stride`` (librosa's convention), windows of ``length`` samples
      zero-padded to a 1024-point FFT, so that short windows still give every
      one of the 128 bands an FFT bin.
    - Back-end padding and pooling: unpadded convolutions, pools that keep a
      partial last pool (Theano's defaults; the paper used Theano). With
      those, a 3-s window leaves at least one frame for every stride.
    - The logarithmic nonlinearities reuse C = 10000 of the mel path; the
      nonlinearity follows the feature pool (see
      :class:`StridedConvFrontend`); groups are consecutive filters, as in
      maxout.
    - Dropout: none (the paper found it made no significant difference).

    With the defaults (mel, length = stride = 256, 3 s at 16 kHz = 48000
    samples) the front end gives (B, 128, 188) and the back end sees
    188 -> 181 -> 46 -> 39 -> 10 frames: 78,174 parameters. The raw front
    end gives (B, 128, 187) and adds 32,896 parameters (111,070 in all).

    Examples
    --------
    >>> import modspec.models as mm
    >>> model = mm.build("dieleman2014", frontend="raw", stride=512)
    >>> model.n_samples, tuple(model.frontend.conv.weight.shape)
    (48000, (128, 1, 512))
    """
    sample_rate = check_sample_rate("sample_rate", sample_rate)
    if frontend not in ("mel", "raw"):
        raise ParameterError(f"frontend={frontend!r} is not supported; use 'mel' or 'raw'")
    stride = _check_int_choice("stride", stride, STRIDES)
    length = stride if length is None else _check_int_choice("length", length, STRIDES)
    if (length, stride) not in LENGTH_STRIDE:
        raise ParameterError(
            f"length={length} with stride={stride} is not one of the paper's (length, stride) pairs {LENGTH_STRIDE}"
        )
    if pooling not in POOLINGS:
        raise ParameterError(f"pooling={pooling!r} is not supported; use one of {POOLINGS}")
    if nonlinearity not in NONLINEARITIES:
        raise ParameterError(f"nonlinearity={nonlinearity!r} is not supported; use one of {NONLINEARITIES}")
    if pooling == "none":
        if pool_size is not None:
            raise ParameterError(f"pool_size={pool_size!r} needs pooling='l2' or 'max' (pooling is 'none')")
        pool_size = 1
    else:
        pool_size = 4 if pool_size is None else _check_int_choice("pool_size", pool_size, POOL_SIZES)
    n_filters = check_positive_int("n_filters", n_filters)
    C = check_real("C", C, positive=True)
    duration = check_real("duration", duration, positive=True)
    n_samples = round(duration * sample_rate)
    if n_samples < length:
        raise ParameterError(f"duration={duration} s gives {n_samples} samples, fewer than length={length}")

    if frontend == "mel":
        raw_only = {"n_filters": (n_filters, 128), "nonlinearity": (nonlinearity, "relu"), "pooling": (pooling, "none")}
        changed = [name for name, (value, default) in raw_only.items() if value != default]
        if changed:
            raise ParameterError(f"option(s) {changed} apply only to frontend='raw' (frontend is 'mel')")
        front = nn.Sequential(OrderedDict([
            ("mel", MelSpectrogram(
                sr=sample_rate, n_fft=max(N_FFT, length), hop_length=stride, win_length=length, power=1.0,
                n_mels=N_MELS,
            )),
            ("compress", LogCompression(C=C)),
        ]))
        n_features, n_frames = N_MELS, 1 + n_samples // stride  # centred frames
    else:
        front = StridedConvFrontend(
            length, stride, n_filters, nonlinearity=nonlinearity, C=C, pooling=pooling, pool_size=pool_size
        )
        n_features, n_frames = front.n_features, front.n_frames(n_samples)
    back = DielemanCNN(n_features, n_frames, n_classes)
    return TaggingModel(front, back, sample_rate=sample_rate, n_samples=n_samples, n_classes=n_classes, loss="bce")
