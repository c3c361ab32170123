"""Choi, Fazekas, Sandler & Cho (2018): the k2c2 ConvNet behind a configurable preprocessing chain.

Keunwoo Choi, György Fazekas, Mark Sandler and Kyunghyun Cho, "A comparison
of audio signal preprocessing methods for deep neural networks on music
tagging", EUSIPCO 2018. The front end is a power STFT or 96-band mel
spectrogram (12 kHz audio, 512-point FFT, hop 256: input (1, 96, 1360) for
29 s), then the paper's preprocessing blocks: decibel scaling or not, a
frequency weighting (per-frequency standardisation, A-weighting or bypass),
per-sample standardisation, and a scaler. The back end, k2c2, is 5 x (3x3
conv with 32 channels, batch norm, ELU, max-pool) and a dense layer.
"""

from collections import OrderedDict

import numpy as np
import torch
from torch import nn

from modspec import filters
from modspec.errors import (
    ParameterError,
    check_positive_int,
    check_real,
    check_sample_rate,
)
from modspec.models._base import TaggingModel
from modspec.nn import (
    AmplitudeToDB,
    AWeighting,
    MelSpectrogram,
    Spectrogram,
    Standardize,
)
from modspec.nn._base import check_tensor

__all__ = ["K2C2", "ChoiFrontend", "choi2018"]

N_FFT = 512
HOP_LENGTH = 256
N_MELS = 96
# The authors' clips: 29 s at 12 kHz (input_length = 12000 * 29 in their code) -> 1 + 348000 // 256 = 1360 frames.
N_SAMPLES = 12000 * 29
N_CHANNELS = 32
# (frequency, time) max-pool of each block. The paper's Table 1 lists the STFT's (257 bins -> 1);
# applied to 96 mel bands it would pool the frequency axis to 0 (96 / 2 / 4 / 4 / 2 / 4), so the mel
# model uses the authors' code's plan for 96 bands (both plans take 1360 frames -> 1).
POOLS = {
    "stft": ((2, 4), (4, 4), (4, 5), (2, 4), (4, 4)),
    "mel": ((2, 4), (3, 4), (2, 5), (2, 4), (4, 4)),
}
WEIGHTINGS = ("per_frequency", "a_weighting", "bypass")


class ChoiFrontend(nn.Module):
    """Choi et al.'s preprocessing: spectrogram, dB or linear, frequency weighting, per-sample std, scaler.

    Parameters
    ----------
    spectrogram : torch.nn.Module
        Waveform (B, n_samples) -> power spectrogram (B, n_freq, n_frames).
    frequencies : np.ndarray, shape (n_freq,)
        Frequency of each row in Hz (for the A-weighting).
    db : bool
        Decibel scaling (10 log10, 0 dB at each spectrogram's maximum, 80 dB
        floor below it, as Kapre's ``return_decibel``) or the linear power.
    weighting : {'per_frequency', 'a_weighting', 'bypass'}
        Per-frequency standardisation with fixed statistics (the buffers
        ``weighting.mean`` and ``weighting.std``, 0 and 1 until set by
        :meth:`fit_standardization`), A-weighting, or nothing.
    per_sample_std : bool
        Standardise each spectrogram by its own mean and std (over time and
        frequency).
    scale : float
        Factor applied last (the paper's ×10 scaler: 10; off: 1).

    Attributes
    ----------
    spectrogram, to_db, weighting, standardize : torch.nn.Module
        The stages, in order (``torch.nn.Identity`` where off).

    Shape
    -----
    - Input: (B, n_samples), real floating point, dtype of the module.
    - Output: (B, 1, n_freq, n_frames): one channel for the 2-D back end.
    """

    def __init__(self, spectrogram, frequencies, *, db=True, weighting="bypass", per_sample_std=True, scale=1.0):
        super().__init__()
        if weighting not in WEIGHTINGS:
            raise ParameterError(f"weighting={weighting!r} is not supported; use one of {WEIGHTINGS}")
        n_freq = len(frequencies)
        self.db, self.weighting_kind, self.per_sample_std = bool(db), weighting, bool(per_sample_std)
        self.scale = check_real("scale", scale)
        self.spectrogram = spectrogram
        self.to_db = AmplitudeToDB(stype="power", ref="max", top_db=80.0) if self.db else nn.Identity()
        if weighting == "per_frequency":
            self.weighting = Standardize(mode="frequency", mean=np.zeros(n_freq), std=np.ones(n_freq))
        elif weighting == "a_weighting":
            self.weighting = AWeighting(frequencies, kind="db" if self.db else "power")
        else:
            self.weighting = nn.Identity()
        self.standardize = Standardize(mode="sample") if self.per_sample_std else nn.Identity()

    def extra_repr(self):
        return (
            f"db={self.db}, weighting={self.weighting_kind!r}, per_sample_std={self.per_sample_std}, "
            f"scale={self.scale}"
        )

    def features(self, waveform):
        """The (dB or linear) spectrogram (B, n_freq, n_frames) that the frequency weighting receives."""
        check_tensor("waveform", waveform, min_ndim=2, layout="(batch, n_samples)")
        return self.to_db(self.spectrogram(waveform))

    def forward(self, waveform):
        """Preprocessed spectrograms (B, 1, n_freq, n_frames) of waveforms (B, n_samples)."""
        S = self.standardize(self.weighting(self.features(waveform)))
        return (S * self.scale).unsqueeze(-3)

    @torch.no_grad()
    def fit_standardization(self, waveforms, *, batch_size=16):
        """Set the per-frequency mean and std from training waveforms; returns ``self``.

        The statistics are those of :meth:`features` over all clips and
        frames, per frequency (population std), accumulated in float64.

        Parameters
        ----------
        waveforms : torch.Tensor, shape (N, n_samples), or an iterable of such batches
            Training clips (or a representative sample of them).
        batch_size : int > 0
            Clips per pass when ``waveforms`` is one tensor.

        Raises
        ------
        ParameterError
            If ``weighting`` is not 'per_frequency', or no clip is given.

        Notes
        -----
        For a very large training set, compute the statistics elsewhere and
        copy them into the buffers: ``frontend.weighting.mean.copy_(mean[:,
        None])`` and ``frontend.weighting.std.copy_(std[:, None])`` (shape
        (n_freq, 1)).
        """
        if self.weighting_kind != "per_frequency":
            raise ParameterError(
                f"fit_standardization needs weighting='per_frequency', this front end has {self.weighting_kind!r}"
            )
        if isinstance(waveforms, torch.Tensor):
            waveforms = waveforms.split(check_positive_int("batch_size", batch_size))
        count, total, total_sq = 0, 0.0, 0.0
        for batch in waveforms:
            S = self.features(batch).double()  # (B, n_freq, n_frames)
            count += S.shape[0] * S.shape[-1]
            total = total + S.sum(dim=(0, -1))
            total_sq = total_sq + S.square().sum(dim=(0, -1))
        if count == 0:
            raise ParameterError("fit_standardization got no clips")
        mean = total / count
        std = (total_sq / count - mean.square()).clamp(min=0.0).sqrt()
        self.weighting.mean.copy_(mean[:, None])
        self.weighting.std.copy_(std[:, None])
        return self


class K2C2(nn.Sequential):
    """Choi et al.'s k2c2 back end: 5 x (3x3 conv 32 ch, batch norm, ELU, max-pool), dense n_classes.

    Parameters
    ----------
    n_freq, n_frames : int > 0
        Size of the input spectrogram.
    n_classes : int > 0
        Outputs (logits; the paper's 50 sigmoid units).
    pools : sequence of 5 (int, int)
        (frequency, time) max-pool of each block.

    Shape
    -----
    - Input: (B, 1, n_freq, n_frames).
    - Output: (B, n_classes).

    Notes
    -----
    'Same'-padded convolutions, He-normal weights and zero biases, batch
    norm after each convolution, pools that drop a partial last pool, a
    flatten and a dense layer: the authors' Keras code
    (``get_convBNeluMPdrop`` in keunwoochoi/transfer_learning_music, which the
    paper links, with its conv dropout 0). At the paper's size the last map
    is 32 x 1 x 1.
    """

    def __init__(self, n_freq, n_frames, n_classes, pools):
        size = [n_freq, n_frames]
        for pool in pools:
            size = [s // p for s, p in zip(size, pool)]
        if min(size) < 1:
            raise ParameterError(
                f"an input of {n_freq} x {n_frames} (frequency x time) is pooled to nothing by {pools}; "
                "the paper's input is 96 x 1360 (mel) or 257 x 1360 (STFT)"
            )
        blocks = []
        for i, pool in enumerate(pools, start=1):
            conv = nn.Conv2d(1 if i == 1 else N_CHANNELS, N_CHANNELS, 3, padding=1)
            nn.init.kaiming_normal_(conv.weight, nonlinearity="relu")  # Keras 'he_normal': std sqrt(2 / fan_in)
            nn.init.zeros_(conv.bias)
            blocks.append((f"block{i}", nn.Sequential(OrderedDict([
                ("conv", conv), ("bn", nn.BatchNorm2d(N_CHANNELS)), ("elu", nn.ELU()), ("pool", nn.MaxPool2d(pool)),
            ]))))
        blocks += [("flatten", nn.Flatten()), ("dense", nn.Linear(N_CHANNELS * size[0] * size[1], n_classes))]
        super().__init__(OrderedDict(blocks))


def choi2018(
    *, n_classes=50, sample_rate=16000, frontend="mel", db=True, weighting="bypass", per_sample_std=True,
    scale=1.0, n_samples=None,
):
    """Choi et al.'s k2c2 ConvNet with the paper's preprocessing options.

    Keunwoo Choi, György Fazekas, Mark Sandler and Kyunghyun Cho (2018), "A
    comparison of audio signal preprocessing methods for deep neural
    networks on music tagging", EUSIPCO 2018.

    Front end (:class:`ChoiFrontend`), in the paper's order: power
    spectrogram (512-point FFT, Hann window, hop 256, centred frames) ->
    decibels or linear -> frequency weighting -> per-sample standardisation
    -> ×``scale``; output (B, 1, n_freq, n_frames): (B, 1, 96, 1360) for the
    mel default. Back end (:class:`K2C2`): 5 x (conv 3x3, 32 channels, batch
    norm, ELU, max-pool), flatten, dense ``n_classes`` (logits; sigmoid
    predictions, binary cross-entropy loss).

    Parameters
    ----------
    n_classes : int > 0
        Number of tags (50 in the paper: the MSD's top 50).
    sample_rate : float > 0
        Rate of the input in Hz. The paper uses 12 kHz: pass
        ``sample_rate=12000`` to reproduce it (the registry's default is
        16000). FFT size and hop are in samples at any rate; the mel bands
        span 0 Hz to ``sample_rate / 2``.
    frontend : {'mel', 'stft'}
        96-band mel spectrogram (Slaney mel scale and norm, as librosa/Kapre)
        or the 257-bin STFT (the paper's Sec. 2.2).
    db : bool
        Decibel scaling (``10 log10``, 0 dB at each spectrogram's maximum,
        floored 80 dB below, as Kapre) or the linear power (Sec. 2.3).
    weighting : {'per_frequency', 'a_weighting', 'bypass'}
        Frequency weighting (Sec. 2.4.1): per-frequency standardisation with
        statistics of the training set, the IEC 61672 A-weighting curve (added
        in dB, or multiplied as a power factor when ``db`` is False), or none.
    per_sample_std : bool
        Standardise each spectrogram by its own mean and std (Sec. 2.4; used
        in all the paper's weighting comparisons).
    scale : float
        Multiply the result by this (the paper's ×10 scaler: 10; off: 1).
    n_samples : int > 0 or None
        Training window in samples; None means 348000 (29 s at 12 kHz, the
        authors' clips), which gives 1 + 348000 // 256 = 1360 frames at any
        rate. At least 327424 (1280 frames) for the pooling.

    Returns
    -------
    TaggingModel
        ``forward(waveform (B, n_samples)) -> logits (B, n_classes)``, loss
        'bce'. Its ``frontend`` is a :class:`ChoiFrontend`.

    Raises
    ------
    ParameterError
        On an unknown option value, or ``n_samples`` too short for the
        pooling.

    Notes
    -----
    Per-frequency standardisation needs statistics of the training set. They
    are buffers, ``model.frontend.weighting.mean`` and ``.std`` (shape
    (n_freq, 1), 0 and 1 at construction, so the stage is a bypass until they
    are set): call ``model.frontend.fit_standardization(train_waveforms)``
    or copy statistics into them; they are saved in the ``state_dict``. (The
    authors' Kapre ``Normalization2D('freq')`` computed them over each
    batch instead; fixed training-set statistics make predictions independent
    of the batch.)

    Where the paper is silent or inconsistent:

    - Pooling: Table 1's pools, (2,4), (4,4), (4,5), (2,4), (4,4), reduce 257
      STFT bins to 1 but 96 mel bands to 0; the 'mel' model uses the pools of
      the authors' code for 96 bands, (2,4), (3,4), (2,5), (2,4), (4,4). Both
      take 1360 frames to 1.
    - Batch normalisation after each convolution (the paper mentions it in
      Sec. 2.4.2; the authors' code places it before the ELU), 'same'
      padding, He-normal initialisation (Sec. 2.1), no dropout.
    - The A-weighting of mel bands is taken at their centre frequencies,
      floored at -80 dB.

    With the defaults the model has 39,282 parameters: 5 convolutions (320 +
    4 x 9,248), 5 batch norms (5 x 64) and the dense layer (32 x 50 + 50).

    Examples
    --------
    >>> import modspec.models as mm
    >>> model = mm.build("choi2018", sample_rate=12000)
    >>> model.n_samples, mm.count_parameters(model)
    (348000, 39282)
    """
    sample_rate = check_sample_rate("sample_rate", sample_rate)
    if frontend not in POOLS:
        raise ParameterError(f"frontend={frontend!r} is not supported; use 'mel' or 'stft'")
    if weighting not in WEIGHTINGS:
        raise ParameterError(f"weighting={weighting!r} is not supported; use one of {WEIGHTINGS}")
    for name, value in (("db", db), ("per_sample_std", per_sample_std)):
        if not isinstance(value, (bool, np.bool_)):
            raise ParameterError(f"{name}={value!r} must be True or False")
    n_samples = N_SAMPLES if n_samples is None else check_positive_int("n_samples", n_samples)
    min_frames = int(np.prod([pool[1] for pool in POOLS[frontend]]))  # 1280: the time pools' product
    if 1 + n_samples // HOP_LENGTH < min_frames:
        raise ParameterError(
            f"n_samples={n_samples} gives {1 + n_samples // HOP_LENGTH} frames; k2c2's pools need at least "
            f"{min_frames} (n_samples >= {(min_frames - 1) * HOP_LENGTH})"
        )
    if frontend == "mel":
        spectrogram = MelSpectrogram(sr=sample_rate, n_fft=N_FFT, hop_length=HOP_LENGTH, power=2.0, n_mels=N_MELS)
        fmax = sample_rate / 2
        frequencies = filters.mel_frequencies(N_MELS + 2, fmin=0.0, fmax=fmax)[1:-1]  # band centres
    else:
        spectrogram = Spectrogram(n_fft=N_FFT, hop_length=HOP_LENGTH, power=2.0)
        frequencies = filters.fft_frequencies(sr=sample_rate, n_fft=N_FFT)
    front = ChoiFrontend(
        spectrogram, frequencies, db=db, weighting=weighting, per_sample_std=per_sample_std, scale=scale
    )
    n_frames = 1 + n_samples // HOP_LENGTH  # centred frames
    back = K2C2(len(frequencies), n_frames, n_classes, POOLS[frontend])
    return TaggingModel(front, back, sample_rate=sample_rate, n_samples=n_samples, n_classes=n_classes, loss="bce")
