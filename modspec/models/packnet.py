r"""Raghavan's model: the jTFS tensor (N, J2, J_fr) into four PackNet packing layers.

Raghavan, N. (undated, after 2020; UC Berkeley), *On the Automatic Tagging of
Music by Joint Time-Frequency Scattering and 3D Convolutions*. The front end is
:class:`modspec.nn.JTFSTensor`: joint time-frequency scattering, second
order divided by first order, the stronger spin kept, a tensor of
``N`` frames by ``J2`` temporal by ``J_fr`` frequential scales. The back end
folds the two scale axes into channels with the packing layers of Guizilini
et al. (2020), *3D Packing for Self-Supervised Monocular Depth Estimation*
(CVPR), and maps the result onto the labels with one last convolution.
"""

from torch import nn

from modspec.errors import ParameterError, check_positive_int
from modspec.models._base import TaggingModel
from modspec.nn import JTFSTensor

__all__ = ["PackNetBackend", "PackingLayer", "jtfs_packnet"]

#: 2-D kernel of each packing layer: PackNet01's first four (``pack_kernel = [5, 3, 3, 3, 3]``).
PACK_KERNELS = (5, 3, 3, 3)


class PackingLayer(nn.Module):
    """A PackNet packing layer: Space2Depth, 3-D conv, reshape, 2-D conv (+ GroupNorm, ELU).

    ``(B, C, H, W)`` -> Space2Depth by 2 -> ``(B, 4C, H/2, W/2)`` -> one-channel
    3-D convolution (3x3x3, ``d`` features) -> ``(B, d, 4C, H/2, W/2)`` ->
    reshape ``(B, 4dC, H/2, W/2)`` -> 2-D convolution back to ``C`` channels,
    GroupNorm, ELU: Guizilini et al. (2020)'s ``PackLayerConv3d`` and
    ``Conv2D``, with one GroupNorm group (see :func:`jtfs_packnet`).

    Parameters
    ----------
    channels : int > 0
        ``C``, in and out.
    kernel_size : odd int > 0
        Size of the 2-D convolution (zero-padded to keep the size).
    d : int > 0
        Features of the 3-D convolution (PackNet: 8).

    Shape
    -----
    - Input: (B, C, H, W)
    - Output: (B, C, ceil(H / 2), ceil(W / 2)); an odd H or W is zero-padded
      at its end first, so that no scale is dropped (PackNet's images are even).
    """

    def __init__(self, channels, kernel_size, *, d=8):
        super().__init__()
        channels = check_positive_int("channels", channels)
        kernel_size = check_positive_int("kernel_size", kernel_size)
        if kernel_size % 2 == 0:
            raise ParameterError(f"kernel_size={kernel_size} must be odd (the convolution keeps the size)")
        d = check_positive_int("d", d)
        self.conv3d = nn.Conv3d(1, d, kernel_size=3, padding=1)
        self.conv = nn.Conv2d(4 * d * channels, channels, kernel_size, padding=kernel_size // 2)
        # One group: PackNet's 16 groups hold 4 to 32 channels over large maps; here the maps shrink to 2 x 1
        # and 16 groups of one frame each would normalise 2 values (or 1: all zeros).
        self.norm = nn.GroupNorm(1, channels)
        self.activation = nn.ELU()

    def forward(self, x):
        """Pack ``x`` (B, C, H, W) into (B, C, ceil(H / 2), ceil(W / 2))."""
        x = nn.functional.pad(x, (0, x.shape[-1] % 2, 0, x.shape[-2] % 2))
        x = nn.functional.pixel_unshuffle(x, 2)  # channel c * 4 + 2 * i + j: PackNet's packing()
        x = self.conv3d(x.unsqueeze(1)).flatten(1, 2)
        return self.activation(self.norm(self.conv(x)))


def _packed(size, n_layers):
    """Size of an axis after ``n_layers`` packings (each ceil-halves it)."""
    for _ in range(n_layers):
        size = -(-size // 2)
    return size


class PackNetBackend(nn.Module):
    """Four packing layers and a last convolution onto the labels: (B, N, J2, J_fr) -> (B, n_classes).

    The ``N`` frames of the jTFS tensor are the channels, the temporal and
    frequential scales the two spatial axes. Each packing layer halves both
    scale axes and keeps ``N`` channels (Raghavan, Sec. 3.3); the last 2-D
    convolution covers the whole remaining (J2 / 16) x (J_fr / 16) map, so it
    gives one value per label.

    Parameters
    ----------
    n_frames : int > 0
        ``N``, the channels.
    n_temporal, n_frequential : int > 0
        ``J2`` and ``J_fr``, the spatial axes.
    n_classes : int > 0
    d : int > 0
        Features of each 3-D convolution.

    Shape
    -----
    - Input: (B, n_frames, n_temporal, n_frequential)
    - Output: (B, n_classes), logits.
    """

    def __init__(self, n_frames, n_temporal, n_frequential, n_classes, *, d=8):
        super().__init__()
        self.input_shape = tuple(
            check_positive_int(name, value)
            for name, value in (("n_frames", n_frames), ("n_temporal", n_temporal), ("n_frequential", n_frequential))
        )
        for i, kernel_size in enumerate(PACK_KERNELS, start=1):
            self.add_module(f"pack{i}", PackingLayer(n_frames, kernel_size, d=d))
        final = (_packed(n_temporal, len(PACK_KERNELS)), _packed(n_frequential, len(PACK_KERNELS)))
        self.classifier = nn.Conv2d(n_frames, check_positive_int("n_classes", n_classes), final)
        # PackNet01.init_weights: Xavier-uniform weights, zero biases.
        for module in self.modules():
            if isinstance(module, (nn.Conv2d, nn.Conv3d)):
                nn.init.xavier_uniform_(module.weight)
                nn.init.zeros_(module.bias)

    def forward(self, x):
        """Logits (B, n_classes) of jTFS tensors ``x`` (B, n_frames, n_temporal, n_frequential)."""
        if x.ndim != 4 or tuple(x.shape[1:]) != self.input_shape:
            raise ParameterError(
                f"x must have shape (batch, {', '.join(map(str, self.input_shape))}) "
                f"(frames, temporal scales, frequential scales), got {tuple(x.shape)}"
            )
        for i in range(1, len(PACK_KERNELS) + 1):
            x = getattr(self, f"pack{i}")(x)
        return self.classifier(x).flatten(1)


def jtfs_packnet(
    *, n_classes=50, sample_rate=16000, n_samples=65536, J=12, Q=(12, 2), J_fr=4, Q_fr=2, T=None, F=24,
    eps=1e-10, d=8, loss="mse",
):
    r"""Raghavan's jTFS + 3-D PackNet tagger.

    Raghavan, N. (undated; it cites work of 2020), *On the Automatic Tagging
    of Music by Joint Time-Frequency Scattering and 3D Convolutions*, UC
    Berkeley (Figure 1, Sec. 3); a proposal without experiments, so no
    published code or results to match. Front
    end: :class:`modspec.nn.JTFSTensor`, jTFS with both spins, S2 divided by
    S1, the spin of larger energy, a tensor (N, J2, J_fr) per window. Back
    end: four packing layers of Guizilini et al. (2020, *3D Packing for
    Self-Supervised Monocular Depth Estimation*, CVPR), each
    ``(N, J2, J_fr) -> Space2Depth (4N, J2/2, J_fr/2) -> 3-D conv (D, 4N,
    J2/2, J_fr/2) -> reshape (4DN, J2/2, J_fr/2) -> 2-D conv (N, J2/2,
    J_fr/2)``, then a 2-D convolution onto the labels, trained with MSE.

    Parameters
    ----------
    n_classes : int > 0
    sample_rate : float > 0
        Rate in Hz of the input; the scales below are in samples (at 16 kHz,
        ``T = 2**12`` is 256 ms).
    n_samples : int > 0
        The window, in samples (default 65536: 16 frames of ``T``, 4.1 s at
        16 kHz). At least ``2**J`` and ``T``; shorter windows run faster.
    J : int > 0
        ``log2 T``: scale of the largest temporal wavelet, ``2**J`` samples
        (the paper's ``J1 = Q1 log2 T`` counts the wavelets, not the octaves).
    Q : tuple (Q1, Q2) of int > 0
        Temporal wavelets per octave at orders 1 and 2 (the paper: 12 and 2).
    J_fr : int > 0
        Largest frequential scale, ``2**J_fr`` first-order wavelets.
    Q_fr : int > 0
        Frequential wavelets per octave (the paper: 2).
    T : int > 0 or None
        Temporal averaging, in samples (None: ``2**J``); frames are
        ``2**floor(log2 T)`` samples apart.
    F : int > 0
        Frequential averaging, in first-order wavelets (the paper: 2 octaves,
        ``2 * Q1 = 24``); at most ``(J + 1) * Q1``.
    eps : float >= 0
        Added to S1 before dividing, relative to each window's largest S1.
    d : int > 0
        Features of each 3-D convolution (PackNet: 8; the paper's D).
    loss : {'mse', 'bce'}
        'mse' (the paper: squared error between sigmoid outputs and labels)
        or 'bce'.

    Returns
    -------
    TaggingModel
        ``frontend`` (:class:`modspec.nn.JTFSTensor`, no parameters):
        (B, n_samples) -> (B, N, J2, J_fr), ``frontend.output_shape``;
        ``backend`` (:class:`PackNetBackend`): -> logits (B, n_classes).
        Defaults: (B, 16, 21, 9), 428,722 parameters for 50 classes.

    Raises
    ------
    ParameterError
        A bad option: ``n_samples``, ``d`` not positive integers; ``loss``
        not 'mse' or 'bce'; J, Q, J_fr, Q_fr, T, F, eps as
        :class:`modspec.nn.JTFSTensor` (e.g. ``2**J > n_samples``).

    Notes
    -----
    Where the paper is silent:

    - **Q1 = 12, Q2 = 2.** The text sets "Q2 = 12 ... and Q2 = 2"; with
      ``J1 = Q1 log2 T`` just before and Wang et al. (2020) cited for it, the
      first is read as Q1 = 12.
    - **J_fr = 4, F = 24.** The paper sets Q_fr = 2 and F = 2 octaves, and
      ``J1(f) = Q_fr log2(Q1 F) = 2 log2 24 ~ 9`` frequential scales; in
      kymatio's terms F = 24 first-order wavelets, and J_fr = 4 gives 9
      frequential wavelets per spin.
    - **T = 2**12 samples (256 ms at 16 kHz), window 16 frames (65536
      samples, 4.1 s).** The paper gives neither T nor the window. A frame
      of 256 ms holds an acciaccatura or a short slide while staying close to
      stationary, as Sec. 3.2 assumes, and J2 = 21 temporal scales; 16 frames
      is near the 3 s windows of Dieleman & Schrauwen (2014).
    - **The packing layers are PackNet01's** (TRI-ML/packnet-sfm,
      ``PackLayerConv3d``): 3-D conv 3x3x3 with D = 8 features, 2-D kernels
      5, 3, 3, 3, each 2-D conv followed by GroupNorm and ELU,
      Xavier-uniform initialisation. The paper keeps N channels throughout,
      so N is the channel count; an odd scale axis is zero-padded to even
      before packing. GroupNorm has one group (all N channels): PackNet's 16
      groups hold 4 to 32 channels each over large images, whereas here the
      maps shrink to 2 x 1 and 16 groups of one frame would normalise 2
      values each (or, on a 1 x 1 map, zero everything).
    - **The last convolution** spans the whole remaining map (J2 / 16 by
      J_fr / 16, rounded up: 2 x 1 by default) with ``n_classes`` filters,
      so that its output has the labels' dimensions (Sec. 3.3); no
      activation (logits).
    - The front end has no parameters and its torch forward pass is slow on
      CPU at the default window (about a minute per clip on one thread,
      against ~4 s for the NumPy function): for training,
      compute the features once with :func:`modspec.features.jtfs_tensor`
      (the same numbers) and fit ``model.backend`` on them.

    Examples
    --------
    >>> import torch
    >>> from modspec.models import build
    >>> model = build("jtfs_packnet", n_samples=1024, J=6, Q=(8, 2))
    >>> model.frontend.output_shape
    (16, 9, 9)
    >>> model(torch.randn(2, 1024)).shape
    torch.Size([2, 50])
    """
    if loss not in ("mse", "bce"):
        raise ParameterError(f"loss={loss!r} is not one of ['bce', 'mse'] (the paper trains with 'mse')")
    n_samples = check_positive_int("n_samples", n_samples)
    d = check_positive_int("d", d)
    frontend = JTFSTensor(J, J_fr, n_samples, Q, Q_fr=Q_fr, T=T, F=F, eps=eps)
    backend = PackNetBackend(*frontend.output_shape, n_classes, d=d)
    return TaggingModel(
        frontend, backend, sample_rate=sample_rate, n_samples=n_samples, n_classes=n_classes, loss=loss
    )
