"""Wavelet scalogram, time scattering and joint time-frequency scattering (``modspec.features.scattering``).

Parameter sets (also used by ``benchmarks/compare_scattering.py``), on seeded
float32 noise (four 4.1 s excerpts at 16 kHz for the scalogram and the
scattering, four 1 s excerpts for the jTFS):

- ``scalogram``: J=8, Q=8, hop 64, on (4, 65536);
- ``scattering``: J=8, Q=8 (Q2=1), T=2**J, second order, on (4, 65536);
- ``jtfs``: J=6, J_fr=2, Q=(8, 2), format 'time', on (4, 16384).

``setup`` runs the transform once, so numba's compilation (or loading its
on-disk cache) and the cached filter plans are never timed; the first
``peakmem_*`` call in a fresh process does build its plan.
"""

import numpy as np

from .common import DTYPE, SEED, SR, require, safe_import

scattering_module = safe_import("modspec.features.scattering")

SCALOGRAM_PARAMS = {"J": 8, "Q": 8, "hop_length": 64}
SCALOGRAM_SHAPE = (4, 2**16)
SCATTERING_PARAMS = {"J": 8, "Q": 8}
SCATTERING_SHAPE = (4, 2**16)
JTFS_PARAMS = {"J": 6, "J_fr": 2, "Q": (8, 2)}
JTFS_SHAPE = (4, 16384)


def make_signals(shape, dtype=DTYPE):
    """Seeded noise (0.1 standard deviation) of ``shape`` and ``dtype``."""
    rng = np.random.default_rng(SEED)
    return (0.1 * rng.standard_normal(shape)).astype(dtype)


class Scalogram:
    def setup(self):
        require(scattering_module, "scalogram")
        self.y = make_signals(SCALOGRAM_SHAPE)
        self.time_scalogram()

    def time_scalogram(self):
        scattering_module.scalogram(self.y, sr=SR, **SCALOGRAM_PARAMS)

    def peakmem_scalogram(self):
        scattering_module.scalogram(self.y, sr=SR, **SCALOGRAM_PARAMS)


class Scattering:
    def setup(self):
        require(scattering_module, "scattering")
        self.y = make_signals(SCATTERING_SHAPE)
        self.time_scattering()

    def time_scattering(self):
        scattering_module.scattering(self.y, **SCATTERING_PARAMS)

    def peakmem_scattering(self):
        scattering_module.scattering(self.y, **SCATTERING_PARAMS)


class JTFS:
    def setup(self):
        require(scattering_module, "jtfs")
        self.y = make_signals(JTFS_SHAPE)
        self.time_jtfs()

    def time_jtfs(self):
        scattering_module.jtfs(self.y, **JTFS_PARAMS)

    def peakmem_jtfs(self):
        scattering_module.jtfs(self.y, **JTFS_PARAMS)
