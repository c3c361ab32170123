"""Learnable and modulation front ends (``modspec.features.learnable`` / ``modulation``, ``modspec.nn``).

Parameter sets (``common.py``), 16 five-second excerpts at 16 kHz, float32:
Vahidi et al.'s sinc layer 1-80-256-10 on the audio and modulation layer
80-20-128-160 on the 1.6 kHz band outputs; Ma & Stern's (TMNN) 101-tap
modulation filters ('same' padding) on 96 bands at 62.5 frames/s; Won et al.'s
harmonic spectrogram (6 harmonics, n_fft 512, hop 256). ``time_*`` is the
NumPy path, ``time_train_*`` a ``modspec.nn`` forward + backward (skipped
without torch), ``time_torch_*`` the same layer as plain torch ``conv1d``.
``setup`` runs everything once, so numba compilation is never timed.
"""

import numpy as np

from .common import (
    MODULATION_LAYER,
    SINC_LAYER,
    SR,
    TMNN_LAYER,
    make_envelopes,
    make_input,
    require,
    safe_import,
)

features = safe_import("modspec.features")
filters = safe_import("modspec.filters")
torch = safe_import("torch")


def _require_torch():
    if torch is None or safe_import("modspec.nn") is None:
        raise NotImplementedError("torch is not installed (modspec[torch])")
    import modspec.nn

    return modspec.nn


class SincLayer:
    def setup(self):
        require(features, "sinc_filterbank")
        self.y = make_input("batch_16x5s")
        self.time_sinc_filterbank()

    def time_sinc_filterbank(self):
        features.sinc_filterbank(self.y, SR, **SINC_LAYER)

    def peakmem_sinc_filterbank(self):
        features.sinc_filterbank(self.y, SR, **SINC_LAYER)


class SincLayerTorch:
    def setup(self):
        mn = _require_torch()
        self.y = torch.from_numpy(make_input("batch_16x5s"))
        self.module = mn.SincConv(sr=SR, **SINC_LAYER)
        bank = filters.sinc_bandpass(SINC_LAYER["n_filters"], SINC_LAYER["kernel_size"], sr=SR, dtype=np.float32)
        self.weight = torch.from_numpy(np.array(bank.filters))[:, None]
        self.time_train_sinc_conv()

    def time_train_sinc_conv(self):
        self.module(self.y).sum().backward()

    def time_torch_conv1d_forward(self):
        with torch.inference_mode():
            torch.nn.functional.conv1d(self.y[:, None], self.weight, stride=SINC_LAYER["stride"])


class _Modulation:
    layer = None
    padding = None

    def _kwargs(self):
        layer = self.layer
        return {"frame_rate": layer["frame_rate"], "kind": "sinc", "n_filters": layer["n_filters"],
                    "kernel_size": layer["kernel_size"], "stride": layer["stride"], "padding": self.padding}

    def setup(self):
        require(features, "modulation_filterbank")
        self.S = make_envelopes(self.layer["n_bands"], self.layer["n_frames"])
        self.time_modulation_filterbank()

    def time_modulation_filterbank(self):
        features.modulation_filterbank(self.S, **self._kwargs())


class _ModulationTorch(_Modulation):
    def setup(self):
        mn = _require_torch()
        super().setup()
        kwargs = self._kwargs()
        self.module = mn.ModulationFilterbank(kwargs.pop("n_filters"), kwargs.pop("kernel_size"), **kwargs)
        self.time_train_modulation_filterbank()

    def time_train_modulation_filterbank(self):
        S = torch.from_numpy(self.S).requires_grad_(True)
        self.module(S).sum().backward()


class ModulationLayer(_Modulation):
    """Vahidi et al.'s 80-20-128-160 layer."""

    layer, padding = MODULATION_LAYER, "valid"


class ModulationLayerTorch(_ModulationTorch):
    layer, padding = MODULATION_LAYER, "valid"


class TMNNModulation(_Modulation):
    """Ma & Stern's 101-tap modulation filters on 96 bands."""

    layer, padding = TMNN_LAYER, "same"


class TMNNModulationTorch(_ModulationTorch):
    layer, padding = TMNN_LAYER, "same"


class HarmonicSpectrogram:
    def setup(self):
        require(features, "harmonic_spectrogram")
        self.y = make_input("batch_16x5s")
        self.time_harmonic_spectrogram()

    def time_harmonic_spectrogram(self):
        features.harmonic_spectrogram(self.y, SR)
