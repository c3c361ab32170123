"""
Mel spectrogram and harmonic spectrogram
========================================

The mel spectrogram (Choi et al. 2018, Dieleman & Schrauwen 2014) pools the
power spectrum with triangles spaced on the mel scale. The harmonic
spectrogram of Won et al. (2020), the front end of Ma & Stern's TMNN (2022),
pools it with *harmonic* triangles: for each band ``b`` with fundamental
``f0[b]`` (two bands per semitone) and each harmonic ``h``, a triangle centred
on ``h * f0[b]``. Harmonic ``h`` of a note then lights up band ``b`` of
channel ``h``, so a harmonic tone appears at the *same* row of all six
channels.
"""

# %%
# A test clip
# -----------
# :func:`modspec.cli.demo_clip` is the clip of ``modspec features``: a 220 Hz
# harmonic tone with 6 Hz tremolo, then a glissando with vibrato, with noise
# bursts every half second. Two seconds at 16 kHz are enough here.
import matplotlib.pyplot as plt
import numpy as np

import modspec.features as mf
from modspec import display
from modspec.cli import demo_clip

sr = 16000
y = demo_clip(sr=sr, duration=2.0)
print(y.shape, y.dtype)

# %%
# The mel spectrogram
# -------------------
# librosa's defaults and numbers (Slaney mel scale and norm, centred frames),
# here with the 96 bands, 512-point FFT and hop of 256 of Choi et al.
M = mf.melspectrogram(y, sr=sr, n_fft=512, hop_length=256, n_mels=96)
M_db = mf.power_to_db(M, ref=np.max)
print("mel:", M.shape)

# %%
# The harmonic spectrogram
# ------------------------
# Shape (n_harmonic, n_bands, n_frames): 6 harmonics, 128 bands (two per
# semitone) and TMNN's 50 % overlap (hop 256). The output is in dB.
H = mf.harmonic_spectrogram(y, sr, n_fft=512, hop_length=256, n_harmonic=6)
print("harmonic:", H.shape)

# %%
# Side by side
# ------------
# Channel 1 of the harmonic spectrogram is a semitone-resolution
# spectrogram of the fundamentals (ticks are the band fundamentals);
# channel 2 pools the second harmonic of each band. During the 220 Hz tone,
# the same row is bright in both channels: the harmonics of one note are
# gathered into one band.
from modspec import filters

f0 = filters.harmonic_f0(sr=sr, n_harmonic=6)
fig, axes = plt.subplots(1, 3, figsize=(13, 4), layout="constrained")
display.specshow(M_db, sr=sr, hop_length=256, ax=axes[0], title="mel (96 bands)")
frames = H.shape[-1] * 256 / sr
for ax, h in zip(axes[1:], (0, 1)):
    image = ax.imshow(H[h] - H.max(), origin="lower", aspect="auto", cmap="magma", vmin=-80,
                      extent=(0, frames, -0.5, H.shape[1] - 0.5))
    ticks = np.linspace(0, H.shape[1] - 1, 6).round().astype(int)
    ax.set_yticks(ticks, [f"{f0[i]:.0f}" for i in ticks])
    ax.set_xlabel("time (s)")
    ax.set_ylabel("band fundamental f0 (Hz)")
    ax.set_title(f"harmonic channel {h + 1}")
fig.colorbar(image, ax=axes[1:], format="%+.0f dB")
plt.show()

# %%
# The same in PyTorch
# -------------------
# :class:`modspec.nn.HarmonicSpectrogram` gives the same numbers and learns
# the bandwidth ``Q`` by backpropagation (``learn_Q=True``).
import torch

from modspec.nn import HarmonicSpectrogram

layer = HarmonicSpectrogram(sr=sr, n_fft=512, hop_length=256, n_harmonic=6)
H_torch = layer(torch.from_numpy(y)).detach().numpy()
# Compare within 80 dB of the peak: far below it, float32 powers near the
# ``amin`` floor of 1e-10 (-100 dB) carry no significant digits.
audible = H > H.max() - 80
print("max |torch - numpy| within 80 dB of the peak (dB):", float(np.abs(H_torch - H)[audible].max()))
