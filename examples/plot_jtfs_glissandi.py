"""
Joint time-frequency scattering of glissandi
============================================

A scalogram (the modulus of a wavelet transform) shows a glissando as a
diagonal ridge. Time scattering averages each scalogram row on its own and
cannot tell a rising ridge from a falling one. Joint time-frequency
scattering (jTFS; Andén et al. 2019, the front end of Raghavan's PackNet
tagger) filters the scalogram with 2-D wavelets in time *and* log-frequency;
the sign of the frequential wavelet, its *spin*, separates patterns that
rise (spin +1) from those that fall (spin -1).
"""

# %%
# Two glissandi
# -------------
# Exponential sweeps over 3 octaves, 200 Hz to 1600 Hz and back, each about
# one second long (16384 samples at 16 kHz), with a Hann fade in and out.
import matplotlib.pyplot as plt
import numpy as np

import modspec.features as mf
from modspec import display

sr, N = 16000, 2**14
t = np.arange(N) / sr
duration = N / sr


def glissando(f0, f1):
    rate = np.log(f1 / f0) / duration  # instantaneous frequency f0 exp(rate t)
    return np.sin(2 * np.pi * f0 * (np.exp(rate * t) - 1) / rate) * np.hanning(N)


y = np.stack([glissando(200.0, 1600.0), glissando(1600.0, 200.0)]).astype(np.float32)

# %%
# Scalograms
# ----------
# :func:`modspec.features.scalogram` with 8 wavelets per octave; both
# glissandi cover the same frequencies for the same time, so their
# time-averaged spectra are alike, only the direction differs.
U, freqs = mf.scalogram(y, J=6, Q=8, hop_length=64, sr=sr)
fig, axes = plt.subplots(1, 2, figsize=(12, 4), layout="constrained")
for ax, u, name in zip(axes, U, ("up", "down")):
    display.scalogram(u, freqs, hop_length=64, sr=sr, ax=ax, db=True, title=f"glissando {name}")
plt.show()

# %%
# jTFS
# ----
# The parameters of ``benchmarks/compare_scattering.py``: J=6, J_fr=2,
# Q=(8, 2). :func:`modspec.features.jtfs_meta` describes every output row:
# its order, spin and wavelet indices.
params = dict(J=6, J_fr=2, Q=(8, 2))
S = mf.jtfs(y, **params)
meta = mf.jtfs_meta(**params)
print(S.shape, "paths x frames per signal")
spin = meta["spin"]
second = meta["order"] == 2
for s, name in zip(S, ("up", "down")):
    energy_up = float((s[second & (spin == 1)] ** 2).sum())
    energy_down = float((s[second & (spin == -1)] ** 2).sum())
    print(f"glissando {name}: energy of spin +1 / spin -1 paths = {energy_up / energy_down:.2f}")

# %%
# The spin balance
# ----------------
# :func:`modspec.display.jtfs` maps the second-order energy over the
# temporal modulation rate (``xi2``) and the frequential scale
# (``|xi_fr|``), for each spin, and their balance in dB: red where spin +1
# dominates (rising), blue where spin -1 does (falling).
for s, name in zip(S, ("up", "down")):
    display.jtfs(s, meta, sr=sr, title=f"jTFS of the glissando {name}")
plt.show()

# %%
# Raghavan's 3-D input
# --------------------
# :func:`modspec.features.jtfs_tensor` normalises the second order by the
# first, averages over ``n1`` and keeps, per signal, the spin whose
# second-order paths carry more energy: a tensor (n_frames, n2, n_fr) for a
# 3-D convolutional network (``modspec.models.build("jtfs_packnet")``). The
# kept spin is the glissando's direction.
X, chosen = mf.jtfs_tensor(y, **params, return_spin=True)
print(X.shape, "chosen spins:", chosen)
