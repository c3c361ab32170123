"""One small case of every modspec.nn module, for the tests that run them all (CUDA, autocast)."""

import numpy as np

SR = 16000


def nn_cases():
    """name -> (module factory, input factory (rng) -> float32 NumPy array)."""
    import modspec.nn as mn

    rng_audio = lambda r: (0.1 * r.standard_normal((2, 16000))).astype(np.float32)
    envelopes = lambda r: np.abs(r.standard_normal((2, 16, 200))).astype(np.float32)
    return {
        "Spectrogram": (lambda: mn.Spectrogram(n_fft=512, hop_length=256), rng_audio),
        "MelSpectrogram": (lambda: mn.MelSpectrogram(sr=SR, n_fft=512, hop_length=256, n_mels=96), rng_audio),
        "AmplitudeToDB": (lambda: mn.AmplitudeToDB(), envelopes),
        "LogCompression": (lambda: mn.LogCompression(learnable=True), envelopes),
        "Standardize": (lambda: mn.Standardize(), envelopes),
        "AWeighting": (lambda: mn.AWeighting(np.linspace(50.0, 7000.0, 16)), envelopes),
        "SincConv": (lambda: mn.SincConv(rectify="relu"), rng_audio),
        "HarmonicSpectrogram": (lambda: mn.HarmonicSpectrogram(sr=SR, n_harmonic=2), rng_audio),
        "ModulationFilterbank": (lambda: mn.ModulationFilterbank(4, 31, frame_rate=62.5, all_pass=True), envelopes),
        "InstanceNorm": (lambda: mn.InstanceNorm(), lambda r: r.standard_normal((2, 16, 5, 40)).astype(np.float32)),
        "ModulationSpectrum": (lambda: mn.ModulationSpectrum(sr=SR, n_samples=16000), rng_audio),
        "Scattering1D": (lambda: mn.Scattering1D(J=6, shape=4096, Q=8),
                         lambda r: r.standard_normal((2, 4096)).astype(np.float32)),
        "TimeFrequencyScattering": (lambda: mn.TimeFrequencyScattering(J=6, J_fr=2, shape=4096, Q=(8, 2)),
                                    lambda r: r.standard_normal((2, 4096)).astype(np.float32)),
        "JTFSTensor": (lambda: mn.JTFSTensor(J=6, J_fr=2, shape=4096, Q=(8, 2)),
                       lambda r: r.standard_normal((2, 4096)).astype(np.float32)),
    }


NN_NAMES = ["Spectrogram", "MelSpectrogram", "AmplitudeToDB", "LogCompression", "Standardize", "AWeighting",
            "SincConv", "HarmonicSpectrogram", "ModulationFilterbank", "InstanceNorm", "ModulationSpectrum",
            "Scattering1D", "TimeFrequencyScattering", "JTFSTensor"]
