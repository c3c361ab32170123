"""The functional API: NumPy in, NumPy out, any leading batch shape.

Signals are (..., n_samples); spectrograms are (..., n_freq, n_frames).
float32 stays float32 and float64 stays float64.
"""

from modspec.features.learnable import harmonic_spectrogram, sinc_filterbank
from modspec.features.modulation import (
    envelope,
    instance_normalize,
    modulation_filterbank,
    modulation_sinc_filters,
    modulation_spectrum,
)
from modspec.features.preprocess import a_weight, log_compress, scale, standardize
from modspec.features.scattering import jtfs, jtfs_meta, jtfs_tensor, scalogram, scattering, scattering_meta
from modspec.features.spectral import (
    amplitude_to_db,
    melspectrogram,
    power_to_db,
    spectrogram,
    stft,
)

__all__ = [
    "a_weight",
    "amplitude_to_db",
    "envelope",
    "harmonic_spectrogram",
    "instance_normalize",
    "jtfs",
    "jtfs_meta",
    "jtfs_tensor",
    "log_compress",
    "melspectrogram",
    "modulation_filterbank",
    "modulation_sinc_filters",
    "modulation_spectrum",
    "power_to_db",
    "scale",
    "scalogram",
    "scattering",
    "scattering_meta",
    "sinc_filterbank",
    "spectrogram",
    "standardize",
    "stft",
]
