"""Convolutional back-end blocks shared by the papers' models: plain and residual 1-D/2-D blocks, a classifier.

The blocks follow the short-chunk CNNs of Won et al. (2020), *Evaluation of
CNN-based automatic music tagging models* (``sota-music-tagging-models``:
``Conv_2d``, ``Res_2d``, ``Res_2d_mp``), on which Harmonic-CNN, ModNet and
TMNN build their back ends:

- :class:`ConvBlock1d` / :class:`ConvBlock2d`: convolution, batch norm,
  ReLU, optional max-pooling.
- :class:`ResidualBlock1d` / :class:`ResidualBlock2d`: two convolutions with
  batch norm and a shortcut (identity, or a projection when the shape
  changes), ReLU after the sum, optional max-pooling.
- :class:`ConvClassifier`: named blocks, global pooling over every axis
  after the channels, an optional hidden dense layer, a dense output layer
  (logits).

Everything here works on (batch, channels, ...) tensors of any floating
dtype (``.double()`` converts), CPU or CUDA.
"""

from torch import nn

from modspec.errors import ParameterError, check_choice, check_positive_int, check_real

__all__ = [
    "GLOBAL_POOLS",
    "ConvBlock1d",
    "ConvBlock2d",
    "ConvClassifier",
    "ResidualBlock1d",
    "ResidualBlock2d",
]

#: Global pooling modes of :class:`ConvClassifier`.
GLOBAL_POOLS = ("max", "avg")

_LAYERS = {
    1: (nn.Conv1d, nn.BatchNorm1d, nn.MaxPool1d),
    2: (nn.Conv2d, nn.BatchNorm2d, nn.MaxPool2d),
}


def _check_size(name, value, ndim):
    """An int > 0 or a tuple of ``ndim`` of them (kernel sizes, strides, pooling sizes)."""
    if isinstance(value, (tuple, list)):
        if len(value) != ndim:
            raise ParameterError(f"{name}={value!r} must have {ndim} entries (one per axis) or be a single int")
        return tuple(check_positive_int(name, v) for v in value)
    return check_positive_int(name, value)


def _same_padding(kernel_size):
    """Zero padding that keeps the length at stride 1 for odd kernels (``k // 2`` per axis)."""
    if isinstance(kernel_size, tuple):
        return tuple(k // 2 for k in kernel_size)
    return kernel_size // 2


def _pool(ndim, pool, ceil_mode):
    """A max-pooling layer of size and stride ``pool``, or an identity when ``pool`` is None."""
    if pool is None:
        return nn.Identity()
    return _LAYERS[ndim][2](_check_size("pool", pool, ndim), ceil_mode=bool(ceil_mode))


class _ConvBlock(nn.Module):
    _ndim = None

    def __init__(self, in_channels, out_channels, kernel_size=3, *, stride=1, pool=None, ceil_mode=False):
        super().__init__()
        conv, norm, _ = _LAYERS[self._ndim]
        kernel_size = _check_size("kernel_size", kernel_size, self._ndim)
        self.conv = conv(
            check_positive_int("in_channels", in_channels), check_positive_int("out_channels", out_channels),
            kernel_size, stride=_check_size("stride", stride, self._ndim), padding=_same_padding(kernel_size),
        )
        self.bn = norm(out_channels)
        self.relu = nn.ReLU()
        self.pool = _pool(self._ndim, pool, ceil_mode)

    def forward(self, x):
        """pool(relu(bn(conv(x)))): (batch, in_channels, ...) -> (batch, out_channels, ...)."""
        return self.pool(self.relu(self.bn(self.conv(x))))


class ConvBlock1d(_ConvBlock):
    """Convolution, batch norm, ReLU, optional max-pooling, on (batch, channels, length).

    Parameters
    ----------
    in_channels, out_channels : int > 0
    kernel_size : int > 0
        Taps; zero padding ``kernel_size // 2`` keeps the length at stride 1
        (odd kernels).
    stride : int > 0
        Convolution stride.
    pool : int > 0 or None
        Max-pooling size and stride after the ReLU; None for none.
    ceil_mode : bool
        Let the pooling keep a partial last window (so that a length-1 axis
        stays length 1 instead of vanishing).

    Shape
    -----
    - Input: (batch, in_channels, length)
    - Output: (batch, out_channels, length_out)
    """

    _ndim = 1


class ConvBlock2d(_ConvBlock):
    """Convolution, batch norm, ReLU, optional max-pooling, on (batch, channels, height, width).

    Won et al.'s ``Conv_2d`` (Harmonic-CNN's first layer). Parameters as
    :class:`ConvBlock1d`, where ``kernel_size``, ``stride`` and ``pool`` may
    also be pairs (one entry per axis).

    Shape
    -----
    - Input: (batch, in_channels, height, width)
    - Output: (batch, out_channels, height_out, width_out)

    Examples
    --------
    >>> import torch
    >>> from modspec.models.resnet import ConvBlock2d
    >>> ConvBlock2d(20, 256, pool=2)(torch.zeros(2, 20, 80, 50)).shape
    torch.Size([2, 256, 40, 25])
    """

    _ndim = 2


class _ResidualBlock(nn.Module):
    _ndim = None

    def __init__(
        self, in_channels, out_channels, kernel_size=3, *, stride=1, pool=None, ceil_mode=False,
        shortcut_kernel_size=1,
    ):
        super().__init__()
        conv, norm, _ = _LAYERS[self._ndim]
        in_channels = check_positive_int("in_channels", in_channels)
        out_channels = check_positive_int("out_channels", out_channels)
        kernel_size = _check_size("kernel_size", kernel_size, self._ndim)
        stride = _check_size("stride", stride, self._ndim)
        padding = _same_padding(kernel_size)
        self.conv_1 = conv(in_channels, out_channels, kernel_size, stride=stride, padding=padding)
        self.bn_1 = norm(out_channels)
        self.conv_2 = conv(out_channels, out_channels, kernel_size, padding=padding)
        self.bn_2 = norm(out_channels)
        if in_channels != out_channels or stride not in (1, (1,) * self._ndim):
            # The sum needs the shortcut in the new shape: a strided projection with batch norm.
            shortcut_kernel_size = _check_size("shortcut_kernel_size", shortcut_kernel_size, self._ndim)
            self.shortcut = nn.Sequential(
                conv(in_channels, out_channels, shortcut_kernel_size, stride=stride,
                     padding=_same_padding(shortcut_kernel_size)),
                norm(out_channels),
            )
        else:
            self.shortcut = nn.Identity()
        self.relu = nn.ReLU()
        self.pool = _pool(self._ndim, pool, ceil_mode)

    def forward(self, x):
        """pool(relu(bn(conv(relu(bn(conv(x))))) + shortcut(x))): (batch, in_channels, ...) -> (batch, out_channels, ...)."""
        out = self.bn_2(self.conv_2(self.relu(self.bn_1(self.conv_1(x)))))
        return self.pool(self.relu(out + self.shortcut(x)))


class ResidualBlock1d(_ResidualBlock):
    """A residual block on (batch, channels, length): two convolutions with batch norm plus a shortcut.

    ``out = pool(relu(bn_2(conv_2(relu(bn_1(conv_1(x))))) + shortcut(x)))``,
    where ``conv_1`` carries the stride and the shortcut is the identity
    when the shape is kept, else a strided ``shortcut_kernel_size``
    convolution with batch norm (He et al.'s projection for 1; Won et al.'s
    ``Res_2d`` uses 3).

    Parameters
    ----------
    in_channels, out_channels : int > 0
    kernel_size : int > 0
        Taps of both convolutions (odd: the length is kept at stride 1).
    stride : int > 0
        Stride of the first convolution and of the projection.
    pool : int > 0 or None
        Max-pooling size and stride after the sum (Won et al.'s
        ``Res_2d_mp``); None for none.
    ceil_mode : bool
        Let the pooling keep a partial last window.
    shortcut_kernel_size : int > 0
        Kernel of the projection shortcut (used only when the shape changes).

    Shape
    -----
    - Input: (batch, in_channels, length)
    - Output: (batch, out_channels, length_out)
    """

    _ndim = 1


class ResidualBlock2d(_ResidualBlock):
    """A residual block on (batch, channels, height, width): two convolutions with batch norm plus a shortcut.

    As :class:`ResidualBlock1d`, where ``kernel_size``, ``stride``, ``pool``
    and ``shortcut_kernel_size`` may also be pairs. With ``pool`` and equal
    channels it is Won et al.'s ``Res_2d_mp`` (Harmonic-CNN's layers 2-7);
    with ``stride=2`` and ``shortcut_kernel_size=3`` their ``Res_2d``.

    Shape
    -----
    - Input: (batch, in_channels, height, width)
    - Output: (batch, out_channels, height_out, width_out)

    Examples
    --------
    >>> import torch
    >>> from modspec.models.resnet import ResidualBlock2d
    >>> ResidualBlock2d(256, 256, pool=2, ceil_mode=True)(torch.zeros(2, 256, 5, 7)).shape
    torch.Size([2, 256, 3, 4])
    >>> ResidualBlock2d(1, 128, stride=2)(torch.zeros(2, 1, 128, 100)).shape
    torch.Size([2, 128, 64, 50])
    """

    _ndim = 2


class ConvClassifier(nn.Module):
    """Blocks, global pooling, dense layers: features (batch, channels, ...) -> logits (batch, n_classes).

    Parameters
    ----------
    blocks : sequence of torch.nn.Module
        Applied in order; registered as ``layer1``, ``layer2``, ... (so a
        parameter table lists each one). The last one outputs
        ``n_features`` channels.
    n_features : int > 0
        Channels of the last block's output.
    n_classes : int > 0
        Number of logits.
    global_pool : {'max', 'avg'}
        Reduction over every axis after the channels (Won et al.'s models
        take the maximum).
    hidden : int > 0 or None
        Width of a hidden dense layer with batch norm and ReLU before the
        output layer (Won et al.'s ``dense1``/``bn``); None for none.
    dropout : float in [0, 1)
        Dropout before the output layer.

    Shape
    -----
    - Input: (batch, in_channels, ...) with at least one axis after the channels.
    - Output: (batch, n_classes), logits (no sigmoid: the loss applies it).

    Examples
    --------
    >>> import torch
    >>> from modspec.models.resnet import ConvBlock2d, ConvClassifier
    >>> head = ConvClassifier([ConvBlock2d(1, 8, pool=2)], n_features=8, n_classes=5)
    >>> head(torch.zeros(3, 1, 16, 16)).shape
    torch.Size([3, 5])
    """

    def __init__(self, blocks, *, n_features, n_classes, global_pool="max", hidden=None, dropout=0.0):
        super().__init__()
        blocks = list(blocks)
        if not blocks:
            raise ParameterError("blocks is empty; pass at least one block")
        for i, block in enumerate(blocks, start=1):
            self.add_module(f"layer{i}", block)
        self.n_blocks = len(blocks)
        self.global_pool = check_choice("global_pool", global_pool, GLOBAL_POOLS)
        n_features = check_positive_int("n_features", n_features)
        n_classes = check_positive_int("n_classes", n_classes)
        dropout = check_real("dropout", dropout, nonnegative=True)
        if dropout >= 1:
            raise ParameterError(f"dropout={dropout} must be in [0, 1)")
        if hidden is None:
            self.hidden = nn.Identity()
        else:
            hidden = check_positive_int("hidden", hidden)
            self.hidden = nn.Sequential(nn.Linear(n_features, hidden), nn.BatchNorm1d(hidden), nn.ReLU())
            n_features = hidden
        self.dropout = nn.Dropout(dropout)
        self.dense = nn.Linear(n_features, n_classes)

    def extra_repr(self):
        return f"global_pool={self.global_pool!r}"

    def forward(self, x):
        """Logits (batch, n_classes) of features (batch, channels, ...)."""
        for i in range(1, self.n_blocks + 1):
            x = getattr(self, f"layer{i}")(x)
        axes = tuple(range(2, x.ndim))
        x = x.amax(dim=axes) if self.global_pool == "max" else x.mean(dim=axes)
        return self.dense(self.dropout(self.hidden(x)))
