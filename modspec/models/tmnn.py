"""Harmonic CNN (Won et al. 2020) and TMNN (Ma & Stern 2022): harmonic front ends and a 2-D ResNet back end.

Both models share Won et al.'s back end, the "short-chunk" 2-D ResNet of
their published code (``HarmonicCNN`` in minzwon/sota-music-tagging-models):
batch norm of the input channels, 7 blocks holding 12 3x3 convolutions
(``Conv_2d``, 3 x ``Res_2d_mp``, ``Conv_2d``, 2 x ``Res_2d_mp``), each block
ending in a max-pool, a global max-pool, and 2 dense layers. TMNN's paper
describes the same back end ("a simple 2-D CNN with 12 layers of ResNet
convolution and two fully-connected layers").
"""

import torch
from torch import nn

from modspec.errors import ParameterError, check_choice, check_positive_int, check_real
from modspec.models._base import TaggingModel
from modspec.nn import (
    AmplitudeToDB,
    HarmonicSpectrogram,
    MelSpectrogram,
    ModulationFilterbank,
)

__all__ = ["HarmonicResNet", "TemporalModulation", "harmoniccnn", "tmnn"]

# The STFT of both papers: 512-point FFT, 50 % overlap (64 frames per second at 16 kHz).
N_FFT = 512
HOP_LENGTH = 256
# Won et al.'s pooling per block (frequency, time) on 5-s windows: 7 halvings of the
# frequency axis (128 bands -> 1) and 313 frames -> 156, 78, 39, 19, 9, 3, 1.
POOLING = ((2, 2), (2, 2), (2, 2), (2, 2), (2, 2), (2, 3), (2, 3))
N_CHANNELS = 128
LOSSES = ("bce", "ce")


class ConvBlock(nn.Module):
    """Won et al.'s ``Conv_2d``: 3x3 conv (with bias), batch norm, ReLU, max-pool.

    Shape: (B, in_channels, F, T) -> (B, out_channels, F // pool[0], T // pool[1]).
    """

    def __init__(self, in_channels, out_channels, pool):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, 3, padding=1)
        self.bn = nn.BatchNorm2d(out_channels)
        self.pool = nn.MaxPool2d(pool)

    def forward(self, x):
        return self.pool(torch.relu(self.bn(self.conv(x))))


class ResBlock(nn.Module):
    """Won et al.'s ``Res_2d_mp``: two 3x3 conv + batch norm with an identity skip, ReLU, max-pool.

    ``pool(relu(x + bn2(conv2(relu(bn1(conv1(x)))))))``; channels unchanged.
    Shape: (B, C, F, T) -> (B, C, F // pool[0], T // pool[1]).
    """

    def __init__(self, channels, pool):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)
        self.bn2 = nn.BatchNorm2d(channels)
        self.pool = nn.MaxPool2d(pool)

    def forward(self, x):
        out = self.bn2(self.conv2(torch.relu(self.bn1(self.conv1(x)))))
        return self.pool(torch.relu(x + out))


def pooling_plan(n_bands, n_frames, plan=POOLING):
    """The (frequency, time) pool of each block for an input of ``n_bands`` x ``n_frames``.

    An axis is pooled by the planned factor only while it is at least that
    long, else by 1: a 1-s window (63 frames) stops pooling time once it
    reaches 1 frame, like Won et al.'s keyword-spotting variant whose last
    block pools (2, 1).
    """
    sizes, pools = [n_bands, n_frames], []
    for planned in plan:
        pool = tuple(p if size >= p else 1 for p, size in zip(planned, sizes))
        sizes = [size // p for size, p in zip(sizes, pool)]
        pools.append(pool)
    return pools


class HarmonicResNet(nn.Module):
    r"""Won et al.'s 2-D ResNet back end (Harmonic CNN, TMNN): 12 conv layers, 2 dense layers.

    ``input_bn`` (batch norm of the input channels, Won et al.'s
    ``hstft_bn``), then 7 blocks (:class:`ConvBlock` to ``n_channels``, 3
    :class:`ResBlock`, :class:`ConvBlock` to ``2 n_channels``, 2
    :class:`ResBlock`: 1 + 6 + 1 + 4 = 12 conv layers), each followed by
    max-pooling (:func:`pooling_plan`), a global max-pool over what is left of
    frequency and time, then ``dense1`` (2 n_channels -> 2 n_channels), batch
    norm, ReLU, dropout 0.5, ``dense2`` (-> n_classes).

    Parameters
    ----------
    in_channels : int > 0
        Channels of the front end (harmonics, times modulation channels for TMNN).
    n_bands, n_frames : int > 0
        Frequency and time size of the input, to plan the pooling.
    n_classes : int > 0
        Number of logits.
    n_channels : int > 0
        Width of the first 4 blocks (128 in Won et al.); the last 3 have twice as many.

    Shape
    -----
    - Input: (B, in_channels, n_bands, n_frames)
    - Output: (B, n_classes), logits (no sigmoid: the loss applies it).

    Notes
    -----
    Won et al.'s code squeezes the frequency axis after the last block (it is
    1 for their 128 and 190 bands) and max-pools time; the global max over
    both axes here is the same for those inputs and accepts any band count.
    """

    def __init__(self, in_channels, n_bands, n_frames, n_classes, n_channels=N_CHANNELS):
        super().__init__()
        in_channels = check_positive_int("in_channels", in_channels)
        n_channels = check_positive_int("n_channels", n_channels)
        pools = pooling_plan(check_positive_int("n_bands", n_bands), check_positive_int("n_frames", n_frames))
        wide = 2 * n_channels
        self.input_bn = nn.BatchNorm2d(in_channels)
        self.layer1 = ConvBlock(in_channels, n_channels, pools[0])
        self.layer2 = ResBlock(n_channels, pools[1])
        self.layer3 = ResBlock(n_channels, pools[2])
        self.layer4 = ResBlock(n_channels, pools[3])
        self.layer5 = ConvBlock(n_channels, wide, pools[4])
        self.layer6 = ResBlock(wide, pools[5])
        self.layer7 = ResBlock(wide, pools[6])
        self.dense1 = nn.Linear(wide, wide)
        self.bn = nn.BatchNorm1d(wide)
        self.dropout = nn.Dropout(0.5)
        self.dense2 = nn.Linear(wide, check_positive_int("n_classes", n_classes))

    def forward(self, x):
        """Logits (B, n_classes) of front-end features (B, in_channels, n_bands, n_frames)."""
        x = self.input_bn(x)
        for layer in (self.layer1, self.layer2, self.layer3, self.layer4, self.layer5, self.layer6, self.layer7):
            x = layer(x)
        x = x.amax(dim=(-2, -1))  # global max-pool
        return self.dense2(self.dropout(torch.relu(self.bn(self.dense1(x)))))


class LogMel(nn.Module):
    """TMNN's "Mel spectrum" baseline: 128-band dB mel spectrogram as one channel.

    Shape: (B, n_samples) -> (B, 1, n_mels, n_frames).
    """

    def __init__(self, sr, n_mels=128):
        super().__init__()
        self.melspectrogram = MelSpectrogram(sr=sr, n_fft=N_FFT, hop_length=HOP_LENGTH, n_mels=n_mels, power=2.0)
        self.to_db = AmplitudeToDB("power", ref=1.0, amin=1e-10, top_db=None)

    def forward(self, y):
        return self.to_db(self.melspectrogram(y)).unsqueeze(-3)


class TemporalModulation(nn.Module):
    r"""TMNN's front end: a spectrogram, temporal-modulation filters on every band, channels stacked.

    ``spectrogram`` gives (B, H, F, T) (H harmonics, or 1 for a mel
    spectrogram); ``modulation`` (a :class:`modspec.nn.ModulationFilterbank`
    with ``all_pass=True``) filters every band's envelope,
    :math:`S[f, m, n] = y_f[n] * h_m[n]`, and prepends the unfiltered
    envelope; the H x (M + 1) envelopes become channels, harmonic-major:
    channel ``h * (M + 1)`` is harmonic h unfiltered, ``h * (M + 1) + m`` its
    m-th modulation filter.

    Shape
    -----
    - Input: (B, n_samples)
    - Output: (B, H * (M + 1), F, T)
    """

    def __init__(self, spectrogram, modulation):
        super().__init__()
        self.spectrogram = spectrogram
        self.modulation = modulation

    def forward(self, y):
        S = self.spectrogram(y)  # (B, H, F, T)
        out = self.modulation(S)  # (B, H, F, M + 1, T)
        out = out.transpose(-3, -2)  # (B, H, M + 1, F, T)
        return out.reshape(out.shape[:-4] + (-1,) + out.shape[-2:])


def _check_common(n_harmonic, duration, loss, sample_rate):
    """Validate the options both builders share; return the window length in samples."""
    if n_harmonic not in (1, 6) or isinstance(n_harmonic, bool):
        raise ParameterError(
            f"n_harmonic={n_harmonic!r} is not supported; use 6 (Harmonic CNN) or 1 (a mel-like learnable bank), "
            "the two settings of Won et al. and TMNN"
        )
    check_choice("loss", loss, LOSSES)
    duration = check_real("duration", duration, positive=True)
    n_samples = round(duration * sample_rate)
    if n_samples < N_FFT:
        raise ParameterError(
            f"duration={duration} s gives {n_samples} samples at {sample_rate} Hz, fewer than one {N_FFT}-point "
            f"FFT frame; use duration >= {N_FFT / sample_rate:g} s"
        )
    return n_samples


def _harmonic(sample_rate, n_harmonic, learn_Q):
    return HarmonicSpectrogram(
        sr=sample_rate, n_fft=N_FFT, hop_length=HOP_LENGTH, n_harmonic=n_harmonic, semitone_scale=2, Q=1.0,
        learn_Q=bool(learn_Q), learn_f0=False, db=True,
    )


def harmoniccnn(*, n_classes=50, sample_rate=16000, n_harmonic=6, learn_Q=True, duration=5.0, loss="bce"):
    r"""Harmonic CNN: Won et al.'s learnable harmonic filters and their 2-D ResNet.

    Minz Won, Sanghyuk Chun, Oriol Nieto and Xavier Serra (2020),
    "Data-driven harmonic filters for audio representation learning",
    ICASSP 2020, pp. 536-540; the "Harmonic-NN" rows of Ma & Stern (2022),
    Table 1.

    Front end: :class:`modspec.nn.HarmonicSpectrogram` (512-point FFT, hop
    256, i.e. 50 % overlap, Hann window; triangular filters on 2 bands per
    semitone from C1 up to ``sample_rate / (2 n_harmonic)``, harmonic h of
    band b centred on ``h * f0[b]``, base width ``(0.1079 f + 24.7) / Q``,
    ``Q`` learnable from 1; power projected, then dB). The harmonics are the
    channels: (B, n_harmonic, n_bands, n_frames), (B, 6, 128, 313) for 5 s at
    16 kHz with 6 harmonics, (B, 1, 190, 313) with 1.

    Back end: :class:`HarmonicResNet` (batch norm of the harmonic channels,
    12 3x3 conv layers in 7 max-pooled blocks of 128, 128, 128, 128, 256,
    256, 256 channels, global max-pool, dense 256, dense ``n_classes``).

    Parameters
    ----------
    n_classes : int > 0
        Outputs (50 MTAT tags; 35 Speech Commands words).
    sample_rate : float > 0
        Input rate in Hz; the papers resample to 16 kHz.
    n_harmonic : {6, 1}
        Harmonics per band: 6 (Harmonic CNN) or 1 (a mel-like bank with
        learnable bandwidth, no harmonic stacking).
    learn_Q : bool
        Learn the bandwidth factor Q (True in both papers) or keep it at 1.
    duration : float > 0
        Training window in seconds: 5.0 for MTAT (Won et al.'s 80000
        samples at 16 kHz), 1.0 for Speech Commands.
    loss : {'bce', 'ce'}
        'bce' for multi-label tagging (MTAT), 'ce' for keyword spotting.

    Returns
    -------
    TaggingModel
        ``forward(waveform (B, round(duration * sample_rate))) -> logits (B, n_classes)``.

    Notes
    -----
    Where the paper is silent the published code (minzwon/sota-music-tagging-
    models, ``HarmonicCNN`` and ``HarmonicSTFT``) decides: Q starts at 1,
    f0 is fixed (``learn_bw='only_Q'``), the harmonic dB spectrogram is
    batch-normalised per harmonic before the ResNet, the 3x3 convolutions
    have biases, and the pooling is (2, 2) five times then (2, 3) twice. For
    windows too short for that pooling (1 s gives 63 frames) the time axis
    stops being pooled once it is 1 frame long (:func:`pooling_plan`), as in
    Won et al.'s keyword-spotting ResNet whose last block pools (2, 1). The
    STFT pads with zeros (``center=True``, librosa's default) where
    torchaudio's pads by reflection; the logits have no sigmoid (the
    trainer's loss applies it, :meth:`TaggingModel.predict` too).

    Examples
    --------
    >>> import torch, modspec.models as mm
    >>> model = mm.build("harmoniccnn")
    >>> model.n_samples, tuple(model.frontend(torch.zeros(1, model.n_samples)).shape)
    (80000, (1, 6, 128, 313))
    """
    n_samples = _check_common(n_harmonic, duration, loss, sample_rate)
    frontend = _harmonic(sample_rate, n_harmonic, learn_Q)
    n_bands, n_frames = frontend.f0.shape[0], 1 + n_samples // HOP_LENGTH
    backend = HarmonicResNet(n_harmonic, n_bands, n_frames, n_classes)
    return TaggingModel(
        frontend, backend, sample_rate=sample_rate, n_samples=n_samples, n_classes=n_classes, loss=loss
    )


def tmnn(
    *, n_classes=50, sample_rate=16000, frontend="harmonic", n_harmonic=None, n_modulation=1, max_mod_hz=None,
    learn_Q=None, duration=5.0, loss="bce",
):
    r"""TMNN: a harmonic (or mel) spectrogram, learnable sinc temporal-modulation filters, Won et al.'s ResNet.

    Yinghao Ma and Richard M. Stern (2022), "Learnable front ends based on
    temporal modulation for music tagging"; Table 1's
    "+ Temporal" rows.

    Front end (:class:`TemporalModulation`): the spectrogram of
    :func:`harmoniccnn` (``frontend='harmonic'``) or a 128-band dB mel
    spectrogram (``frontend='mel'``, Table 1's "Mel spectrum"), both with a
    512-point FFT and 50 % overlap (62.5 frames per second at 16 kHz); then
    on every band's envelope M sinc band-pass modulation filters of 101 taps
    (Hamming-windowed, learnable cut-offs; :class:`modspec.nn.ModulationFilterbank`,
    ``kind='sinc'``, same padding), with the unfiltered envelope concatenated
    as an extra channel. Channels: harmonics x (M + 1), e.g. (B, 12, 128, 313)
    for 5 s at 16 kHz with 6 harmonics and M = 1; (B, 2, 128, 313) for the
    mel front end.

    Back end: :class:`HarmonicResNet`, as :func:`harmoniccnn` (the paper's
    "2-D CNN with 12 layers of ResNet convolution and two fully-connected
    layers").

    Parameters
    ----------
    n_classes : int > 0
        Outputs (50 MTAT tags; 35 Speech Commands words).
    sample_rate : float > 0
        Input rate in Hz; the paper resamples to 16 kHz.
    frontend : {'harmonic', 'mel'}
        Won et al.'s learnable harmonic spectrogram, or a fixed dB mel
        spectrogram (128 bands, 0 Hz to Nyquist, Slaney mel).
    n_harmonic : {6, 1} or None
        Harmonics of the harmonic front end; None means 6. Must be None for
        ``frontend='mel'``.
    n_modulation : int > 0
        Number M of modulation filters (1 by default: the paper's best,
        Fig. 4). Too many for the initial range (bands narrower than
        ``frame_rate / 101``) raise a ParameterError.
    max_mod_hz : float > 0 or None
        Upper edge in Hz of the initial modulation range ``[0, max_mod_hz]``
        that the M filters tile linearly; at most ``frame_rate / 2``. None
        means ``frame_rate / 4`` (15.625 Hz at 16 kHz).
    learn_Q : bool or None
        Learn the harmonic bandwidth factor Q; None means True. Must be None
        for ``frontend='mel'``.
    duration : float > 0
        Training window in seconds: 5.0 for MTAT, 1.0 for Speech Commands.
    loss : {'bce', 'ce'}
        'bce' for multi-label tagging (MTAT), 'ce' for keyword spotting.

    Returns
    -------
    TaggingModel
        ``forward(waveform (B, round(duration * sample_rate))) -> logits (B, n_classes)``.

    Notes
    -----
    Choices where the paper is silent (no code of the authors was found):

    - The modulation filters act on the front end's output, the dB
      (compressed) envelopes, as the modulation spectrum of the paper's
      Fig. 1 takes the DFT of compressed envelopes; the H x (M + 1) channels
      are then batch-normalised per channel at the input of the ResNet, as
      Won et al. normalise their harmonic channels.
    - Initial cut-offs: the M filters tile ``[0, max_mod_hz]`` linearly (as
      SincModNet initialises its sinc modulation filters). The whole range
      0 to ``frame_rate / 2`` would make the single default filter an
      identity, a copy of the concatenated unfiltered channel; the default
      ``frame_rate / 4`` makes it a low-pass at 15.6 Hz, in line with the
      paper's observation that the learned filters are close to low-pass and
      favour low modulation frequencies. The smallest band width allowed in
      training is ``frame_rate / 101`` (one DFT bin of the 101-tap filter).
    - Harmonic-major channel order (see :class:`TemporalModulation`).
    - The STFT, pooling and other details as :func:`harmoniccnn`.

    Examples
    --------
    >>> import torch, modspec.models as mm
    >>> model = mm.build("tmnn")
    >>> tuple(model.frontend(torch.zeros(1, model.n_samples)).shape)
    (1, 12, 128, 313)
    """
    frontend = check_choice("frontend", frontend, ("harmonic", "mel"))
    if frontend == "mel":
        for name, value in (("n_harmonic", n_harmonic), ("learn_Q", learn_Q)):
            if value is not None:
                raise ParameterError(
                    f"{name}={value!r} applies to frontend='harmonic' only; leave it out with frontend='mel'"
                )
    n_harmonic = 6 if n_harmonic is None else n_harmonic
    learn_Q = True if learn_Q is None else learn_Q
    n_samples = _check_common(n_harmonic, duration, loss, sample_rate)
    n_modulation = check_positive_int("n_modulation", n_modulation)
    frame_rate = sample_rate / HOP_LENGTH
    if max_mod_hz is None:
        max_mod_hz = frame_rate / 4
    max_mod_hz = check_real("max_mod_hz", max_mod_hz, positive=True)
    if frontend == "mel":
        spectrogram, n_spectra, n_bands = LogMel(sample_rate), 1, 128
    else:
        spectrogram = _harmonic(sample_rate, n_harmonic, learn_Q)
        n_spectra, n_bands = n_harmonic, spectrogram.f0.shape[0]
    modulation = ModulationFilterbank(
        n_modulation, 101, frame_rate=frame_rate, kind="sinc", padding="same", all_pass=True, max_mod_hz=max_mod_hz,
        min_mod_hz=0.0,
    )
    n_frames = 1 + n_samples // HOP_LENGTH
    backend = HarmonicResNet(n_spectra * (n_modulation + 1), n_bands, n_frames, n_classes)
    return TaggingModel(
        TemporalModulation(spectrogram, modulation), backend, sample_rate=sample_rate, n_samples=n_samples,
        n_classes=n_classes, loss=loss,
    )
