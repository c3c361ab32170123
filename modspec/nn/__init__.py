"""PyTorch modules mirroring :mod:`modspec.features`: same filters, same numbers.

Every module designs its filters once with :mod:`modspec.filters` (float64
NumPy) in ``__init__`` and registers them as named buffers, so they follow the
module through ``.double()``, ``.cuda()`` and ``state_dict()``; ``forward`` is
one call into the same maths as the functional API, differentiable with
autograd, on CPU or CUDA tensors. Under ``torch.autocast`` (mixed-precision
training) every module computes at full precision: a float16 or bfloat16
input is taken as float32, and the layers after it are autocast again.

Importing this package imports torch (the ``torch`` extra); ``import modspec``
and ``import modspec.features`` do not.
"""

try:
    import torch  # noqa: F401
except ImportError as err:  # pragma: no cover - exercised with torch hidden
    raise ImportError("modspec.nn needs PyTorch: pip install 'modspec[torch]'") from err

from modspec.nn.learnable import HarmonicSpectrogram, SincConv
from modspec.nn.modulation import InstanceNorm, ModulationFilterbank, ModulationSpectrum
from modspec.nn.preprocess import AWeighting, LogCompression, Standardize
from modspec.nn.scattering import JTFSTensor, Scattering1D, TimeFrequencyScattering
from modspec.nn.spectral import AmplitudeToDB, MelSpectrogram, Spectrogram

__all__ = [
    "AWeighting",
    "AmplitudeToDB",
    "HarmonicSpectrogram",
    "InstanceNorm",
    "JTFSTensor",
    "LogCompression",
    "MelSpectrogram",
    "ModulationFilterbank",
    "ModulationSpectrum",
    "Scattering1D",
    "SincConv",
    "Spectrogram",
    "Standardize",
    "TimeFrequencyScattering",
]
