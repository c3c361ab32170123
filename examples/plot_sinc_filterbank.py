"""
Sinc band-pass filterbank
=========================

The first layer of Vahidi et al.'s ModNet and SincModNet (2021) is SincNet's
band-pass convolution (Ravanelli & Bengio 2018): 80 filters of 256 taps,
output every 10 samples at 16 kHz (the "1-80-256-10" layer). Filter ``k`` is
a Hamming-windowed ideal band-pass between two cut-offs ``f1 < f2`` in Hz,
initialised on the mel scale; the cut-offs are the only learned numbers.
"""

# %%
# The bank's design
# -----------------
# :func:`modspec.filters.sinc_bandpass` returns the impulse responses and the
# cut-offs (a :class:`~modspec.filters.SincBank`); the design is memoised and
# read-only.
import matplotlib.pyplot as plt
import numpy as np

from modspec import display, filters

sr = 16000
bank = filters.sinc_bandpass(80, 256, sr=sr)
print(bank.filters.shape, "first cut-offs (Hz):", bank.low_hz[:3].round(1), bank.high_hz[:3].round(1))

# %%
# Frequency responses
# -------------------
# Every eighth filter as curves (the dashed lines mark its cut-offs), and the
# whole bank as an image: the pass bands widen with frequency, as mel bands.
# At 256 taps (16 ms) the lowest filters are barely narrower than the
# window's main lobe, so their responses overlap.
fig, axes = plt.subplots(1, 2, figsize=(12, 4), layout="constrained")
few = slice(0, 80, 8)
display.filter_responses(bank.filters[few], sr=sr, low_hz=bank.low_hz[few], high_hz=bank.high_hz[few],
                         ax=axes[0], title="every 8th filter")
display.filter_responses(bank, sr=sr, kind="image", ax=axes[1], title="all 80 filters")
plt.show()

# %%
# The layer's output
# ------------------
# :func:`modspec.features.sinc_filterbank` applies the bank as a strided
# convolution (the numba kernel computes only the kept outputs). With ReLU
# rectification, as in ModNet, the output is a 1.6 kHz-rate "spectrogram" of
# 80 bands, here of a harmonic tone gliding up one octave.
import modspec.features as mf

t = np.arange(sr) / sr
f = 220.0 * 2 ** t  # 220 Hz -> 440 Hz over one second
phase = 2 * np.pi * np.cumsum(f) / sr
y = sum(np.sin(k * phase) / k for k in range(1, 6)).astype(np.float32)
out = mf.sinc_filterbank(y, sr, rectify="relu")
print(out.shape)

fig, ax = plt.subplots(figsize=(8, 4), layout="constrained")
image = ax.imshow(out, origin="lower", aspect="auto", cmap="magma",
                  extent=(0, out.shape[-1] * 10 / sr, -0.5, 79.5))
ticks = np.arange(0, 80, 16)
ax.set_yticks(ticks, [f"{bank.low_hz[i]:.0f}" for i in ticks])
ax.set(xlabel="time (s)", ylabel="lower cut-off f1 (Hz)", title="ReLU(sinc conv) of a gliding harmonic tone")
fig.colorbar(image, ax=ax)
plt.show()

# %%
# A learnable layer
# -----------------
# :class:`modspec.nn.SincConv` is the same layer in PyTorch with the cut-offs
# as ``nn.Parameter`` named ``low_hz`` and ``high_hz``: a gradient step moves
# them, and its output equals the NumPy function's for the current cut-offs.
import torch

from modspec.nn import SincConv

layer = SincConv(80, 256, 10, sr=sr, rectify="relu")
print([name for name, _ in layer.named_parameters()])
out_torch = layer(torch.from_numpy(y)).detach().numpy()
print("max |torch - numpy| / max:", float(np.abs(out_torch - out).max() / out.max()))
