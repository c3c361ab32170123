"""STFT and mel spectrogram (``modspec.features.spectral``) and the mel designer.

Parameter sets (see ``common.py``): 16 kHz, n_fft 512, hop 256, 96 mels,
float32, on "clip_30s" (shape (480000,)) and "batch_16x5s" (shape (16, 80000)).
``setup`` builds the input and calls the function once, so numba's compilation
(or loading its on-disk cache) is never timed.
"""

from .common import (
    INPUTS, MEL_KWARGS, N_FFT, N_MELS, SR, STFT_KWARGS, make_input, parity_error, require, safe_import,
)

features = safe_import("modspec.features")
filters = safe_import("modspec.filters")
# librosa is imported in MelParity.setup only, so that it stays out of peakmem_*.


class _OnInputs:
    params = [list(INPUTS)]
    param_names = ["input"]

    def setup(self, name):
        require(features, "stft", "melspectrogram")
        self.y = make_input(name)


class STFT(_OnInputs):
    def setup(self, name):
        super().setup(name)
        features.stft(self.y, **STFT_KWARGS)

    def time_stft(self, name):
        features.stft(self.y, **STFT_KWARGS)


class MelSpectrogram(_OnInputs):
    def setup(self, name):
        super().setup(name)
        features.melspectrogram(self.y, **MEL_KWARGS)

    def time_melspectrogram(self, name):
        features.melspectrogram(self.y, **MEL_KWARGS)

    def peakmem_melspectrogram(self, name):
        features.melspectrogram(self.y, **MEL_KWARGS)


class MelParity(_OnInputs):
    """Error against librosa 0.11's ``feature.melspectrogram`` (float32 on both sides)."""

    def setup(self, name):
        super().setup(name)
        librosa = safe_import("librosa")
        if librosa is None:
            raise NotImplementedError("librosa is not installed (modspec[bench])")
        self.reference = librosa.feature.melspectrogram(y=self.y, **MEL_KWARGS)
        features.melspectrogram(self.y, **MEL_KWARGS)

    def track_melspectrogram_parity(self, name):
        return parity_error(features.melspectrogram(self.y, **MEL_KWARGS), self.reference)

    track_melspectrogram_parity.unit = "max|a-b|/max|b|"


class DesignMel:
    """``filters.mel`` designing its bank from scratch.

    filters.mel memoises its designs in-process (functools.lru_cache); every
    call here first empties those memos, so the timing is validation plus a
    full design. Emptying them costs well under a microsecond.
    """

    _MEMOS = ("_mel", "_mel_frequencies", "_fft_frequencies")

    def setup(self):
        require(filters, "mel")
        self.memos = [m for m in (getattr(filters, n, None) for n in self._MEMOS) if hasattr(m, "cache_clear")]
        self.design_mel()

    def design_mel(self):
        for memo in self.memos:
            memo.cache_clear()
        return filters.mel(sr=SR, n_fft=N_FFT, n_mels=N_MELS)

    def time_design_mel(self):
        self.design_mel()
