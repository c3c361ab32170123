"""
Temporal modulations: tremolo and vibrato
=========================================

Tremolo is a periodic change of loudness (amplitude modulation), vibrato a
periodic change of pitch (frequency modulation), both at a few hertz. The
modulation front ends of TMNN (Ma & Stern 2022) and SincModNet (Vahidi et
al. 2021) filter every band's envelope over time with band-pass
*modulation* filters; the modulation spectrum of Ding et al. (2017) is the
spectrum of those envelopes, averaged over bands.
"""

# %%
# Two test tones
# --------------
# Three seconds at 16 kHz: a 220 Hz harmonic tone with a 6 Hz tremolo and a
# 330 Hz harmonic tone with a 5.5 Hz vibrato of ±3 %, the test signals of
# the reference data (``am_harmonic``, ``fm_harmonic``).
import matplotlib.pyplot as plt
import numpy as np

import modspec.features as mf
from modspec import display, filters

sr = 16000
t = np.arange(3 * sr) / sr
harmonics = range(1, 7)
norm = sum(1 / k for k in harmonics)
tremolo = (1 + 0.5 * np.sin(2 * np.pi * 6.0 * t)) * sum(np.sin(2 * np.pi * k * 220.0 * t) / k for k in harmonics)
vibrato_phase = 2 * np.pi * 330.0 * t - 330.0 * 0.03 / 5.5 * (np.cos(2 * np.pi * 5.5 * t) - 1)
vibrato = sum(np.sin(k * vibrato_phase) / k for k in harmonics)
y = (0.5 * np.stack([tremolo / 1.5, vibrato]) / norm).astype(np.float32)  # (2, 48000): a batch of two
names = ["tremolo 6 Hz", "vibrato 5.5 Hz"]

# %%
# Modulation spectra
# ------------------
# :func:`modspec.features.modulation_spectrum`: 64 mel bands at 62.5 frames
# per second (TMNN's STFT: 512 points, 50 % overlap), ``log(1 + 100 x)``
# compression, then the DFT of every envelope and the RMS over bands. Both
# tones peak at their modulation rate: the tremolo's envelopes move together,
# the vibrato's move because partials slide across neighbouring bands.
M, mod_freqs = mf.modulation_spectrum(y, sr=sr, n_fft=512, n_mels=64)
print(M.shape, mod_freqs.shape)
for name, spectrum in zip(names, M):
    peak = mod_freqs[1:][np.argmax(spectrum[1:])]
    print(f"{name}: peak at {peak:.2f} Hz")
display.modulation_spectrum(M, mod_freqs, labels=names, db=True, fmin=0.5,
                            title="modulation spectra (RMS over 64 mel bands)")
plt.show()

# %%
# Modulation filters
# ------------------
# TMNN's kind of filter bank (:func:`modspec.filters.modulation_sinc`):
# Hamming-windowed sinc band-passes of 101 taps at the 62.5 Hz frame rate,
# tiling a modulation range linearly; here six of them, 2.5 Hz wide, over
# 0 - 15 Hz.
frame_rate = sr / 256
mod_bank = filters.modulation_sinc(6, 101, frame_rate=frame_rate, max_mod_hz=15.0)
print("pass bands (Hz):", [f"{lo:.1f}-{hi:.1f}" for lo, hi in zip(mod_bank.low_hz, mod_bank.high_hz)])
fig = display.modulation_filter_responses(mod_bank, frame_rate=frame_rate, title="modulation filters")
plt.show()

# %%
# The modulation filterbank's output
# ----------------------------------
# :func:`modspec.features.modulation_filterbank` filters every band of the
# log-mel spectrogram with every filter (TMNN's ``S[f, m, n] = y_f[n] * h_m[n]``),
# ``'same'`` padding, with the unfiltered spectrum as an extra channel 0
# (``all_pass=True``). The lowest filter is a low-pass: it would pass each
# envelope's mean, so remove that first, as the modulation spectrum does
# (``detrend``). For the tremolo tone the energy sits in the 5 - 7.5 Hz
# filter, in the bands of the partials.
mel = mf.melspectrogram(y, sr=sr, n_fft=512, hop_length=256, n_mels=64, power=1.0)
envelopes = mf.log_compress(mel, C=100.0)  # (2, 64, n_frames)
envelopes = envelopes - envelopes.mean(axis=-1, keepdims=True)
S = mf.modulation_filterbank(envelopes, frame_rate=frame_rate, n_filters=6, kernel_size=101, max_mod_hz=15.0,
                             all_pass=True)
print(S.shape)  # (batch, bands, 1 + 6 filters, frames)
labels = ["all-pass"] + [f"{lo:.1f}-{hi:.1f} Hz" for lo, hi in zip(mod_bank.low_hz, mod_bank.high_hz)]
band_hz = filters.mel_frequencies(66, fmax=sr / 2)[1:-1]
display.modulation_response(S[0], frame_rate=frame_rate, mod_labels=labels, band_labels=band_hz.round(),
                            ncols=4, title="tremolo tone: log-mel envelopes (mean removed) through the filters")
plt.show()

# %%
# Energy per modulation filter
# ----------------------------
# Summed over bands and time, relative to the largest: both the 6 Hz
# tremolo and the 5.5 Hz vibrato put most of their energy in the
# 5 - 7.5 Hz filter.
energy = (S[:, :, 1:, 50:-50] ** 2).sum(axis=(1, 3))  # frames within 50 of the edges see the zero padding
for name, e in zip(names, energy):
    print(name, np.round(e / e.max(), 3))
