"""Helpers shared by the asv benchmark modules.

Imports of modspec and its peers are guarded so that the suite still imports
on old commits (or without an optional extra); a benchmark whose backend is
missing raises ``NotImplementedError`` in ``setup``, which asv reports as
skipped (scipy ``benchmarks/benchmarks/common.py``, ``safe_import``).
"""

import importlib

import numpy as np

#: Parameters of the TMNN front end (Ma & Stern 2022: 16 kHz, n_fft 512, 50 %
#: overlap) with Choi et al.'s (2018) 96 mel bands; float32 like training code.
SR = 16000
N_FFT = 512
HOP_LENGTH = 256
N_MELS = 96
DTYPE = np.float32
SEED = 20261121

#: Named inputs: one 30 s clip (an MTAT track), a batch of 16 five-second excerpts.
INPUTS = {"clip_30s": (480000,), "batch_16x5s": (16, 80000)}

STFT_KWARGS = dict(n_fft=N_FFT, hop_length=HOP_LENGTH, window="hann", center=True, pad_mode="constant")
MEL_KWARGS = dict(sr=SR, power=2.0, n_mels=N_MELS, **STFT_KWARGS)


def safe_import(name):
    """The module, or None if it (or something it imports) is missing."""
    try:
        return importlib.import_module(name)
    except ImportError:
        return None


def require(module, *attributes):
    """Raise NotImplementedError (asv: skipped) unless ``module`` has every attribute."""
    if module is None:
        raise NotImplementedError("module not importable at this commit / in this environment")
    missing = [a for a in attributes if not hasattr(module, a)]
    if missing:
        raise NotImplementedError(f"{module.__name__} has no {', '.join(missing)} at this commit")


def make_input(name):
    """Seeded float32 noise of the named shape."""
    rng = np.random.default_rng(SEED)
    return (0.1 * rng.standard_normal(INPUTS[name])).astype(DTYPE)


def parity_error(a, b):
    """``max|a - b| / max|b|``."""
    a, b = np.asarray(a), np.asarray(b)
    return float(np.max(np.abs(a - b)) / np.max(np.abs(b)))


#: The learnable and modulation front ends (issue 3), on 16 five-second excerpts at 16 kHz.
#: Vahidi et al. (2021), Table I: sinc convolution 1-80-256-10, then the modulation
#: convolution 80-20-128-160 on the 1.6 kHz band outputs ((80000 - 256) // 10 + 1 = 7975 samples).
SINC_LAYER = {"n_filters": 80, "kernel_size": 256, "stride": 10}
MODULATION_LAYER = {"n_bands": 80, "n_frames": 7975, "n_filters": 20, "kernel_size": 128, "stride": 160,
                    "frame_rate": SR / 10}
#: Ma & Stern (2022): 101-tap sinc modulation filters at the spectrogram frame rate (62.5 Hz:
#: 313 frames in 5 s), 'same' padding, on 96 bands; 4 filters (the paper tries 1 to several).
TMNN_LAYER = {"n_bands": 96, "n_frames": 313, "n_filters": 4, "kernel_size": 101, "stride": 1,
              "frame_rate": SR / HOP_LENGTH}
FRONTEND_BATCH = 16


def make_envelopes(n_bands, n_frames, *, batch=FRONTEND_BATCH):
    """Seeded non-negative float32 band envelopes (batch, n_bands, n_frames)."""
    rng = np.random.default_rng(SEED)
    return np.abs(rng.standard_normal((batch, n_bands, n_frames))).astype(DTYPE)
