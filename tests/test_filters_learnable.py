"""Designs of the learnable and modulation front ends: sinc, modulation and harmonic banks."""

import numpy as np
import pytest

from modspec import ParameterError, filters


def _response_db(taps, rate, n_fft=1 << 16):
    """Magnitude response in dB of each row of ``taps`` and its frequencies in Hz."""
    H = np.abs(np.fft.rfft(taps, n=n_fft, axis=-1))
    return 20 * np.log10(np.maximum(H, 1e-12)), np.fft.rfftfreq(n_fft, d=1.0 / rate)


def test_sinc_bank_passes_its_band_and_stops_an_octave_away():
    sr, kernel_size = 16000, 4096
    bank = filters.sinc_bandpass(80, kernel_size, sr=sr)
    response, freqs = _response_db(bank.filters, sr)
    # The Hamming window's transition: half its main lobe, 2 sr / kernel_size.
    edge = 2 * sr / kernel_size
    for k in range(80):
        f1, f2 = bank.low_hz[k], bank.high_hz[k]
        inside = (freqs >= f1 + edge) & (freqs <= f2 - edge)
        outside = (freqs <= f1 / 2) | (freqs >= 2 * f2)
        assert inside.any()
        assert response[k, inside].min() > -3.0, k
        assert response[k, outside].max() < -20.0, k


def test_sinc_bank_mel_initialisation_and_constraints():
    bank = filters.sinc_bandpass(80, 256, sr=16000, min_low_hz=50.0, min_band_hz=50.0)
    assert bank.filters.shape == (80, 256)
    assert np.all(bank.low_hz >= 50.0)
    assert np.all(bank.high_hz - bank.low_hz >= 50.0 - 1e-9)
    assert np.all(bank.high_hz <= 8000.0)
    # Initial edges are evenly spaced on the HTK mel scale, from 30 Hz (clamped to min_low_hz) on.
    mels = filters.hz_to_mel(bank.low_hz[1:], htk=True)
    np.testing.assert_allclose(np.diff(mels), np.diff(mels)[0], rtol=1e-9)
    # Linear phase: every filter is symmetric.
    np.testing.assert_allclose(bank.filters, bank.filters[:, ::-1], atol=1e-15)


def test_sinc_bank_takes_explicit_cutoffs_and_is_memoised():
    a = filters.sinc_bandpass(sr=16000, low_hz=[100.0, 1000.0], high_hz=[300.0, 2000.0], kernel_size=128)
    b = filters.sinc_bandpass(sr=16000, low_hz=[100.0, 1000.0], high_hz=[300.0, 2000.0], kernel_size=128)
    assert a.filters is b.filters and not a.filters.flags.writeable
    np.testing.assert_array_equal(a.low_hz, [100.0, 1000.0])
    n = np.arange(128) - 63.5
    expected = (2 * 300 / 16000 * np.sinc(2 * 300 / 16000 * n) - 2 * 100 / 16000 * np.sinc(2 * 100 / 16000 * n))
    np.testing.assert_allclose(a.filters[0], expected * np.hamming(128), rtol=1e-12)
    assert filters.sinc_bandpass(sr=16000, kernel_size=64, dtype=np.float32).filters.dtype == np.float32


def test_modulation_sinc_tiles_the_modulation_range():
    frame_rate = 16000 / 256  # TMNN: 62.5 frames per second
    bank = filters.modulation_sinc(4, 101, frame_rate=frame_rate, max_mod_hz=16.0)
    np.testing.assert_allclose(bank.low_hz, [0, 4, 8, 12])
    np.testing.assert_allclose(bank.high_hz, [4, 8, 12, 16])
    response, freqs = _response_db(bank.filters, frame_rate)
    for m in range(4):
        centre = (bank.low_hz[m] + bank.high_hz[m]) / 2
        assert response[m, np.argmin(np.abs(freqs - centre))] > -3.0
    # A single TMNN filter defaults to the whole range up to the frame rate's Nyquist.
    single = filters.modulation_sinc(frame_rate=frame_rate)
    assert single.filters.shape == (1, 101) and single.high_hz[0] == frame_rate / 2
    # SincModNet: 20 filters of 128 taps on 1.6 kHz envelopes.
    assert filters.modulation_sinc(20, 128, frame_rate=1600.0).filters.shape == (20, 128)


def test_modulation_fir_init_places_hamming_windows():
    bank = filters.modulation_fir_init(20, 128)
    assert bank.shape == (20, 128)
    np.testing.assert_allclose(bank.sum(axis=1), 1.0)
    starts = [int(np.flatnonzero(row)[0]) for row in bank]
    assert len(set(starts)) == 5 and starts[0] == 0 and max(starts) <= 64
    np.testing.assert_array_equal(bank[0], bank[5])
    assert np.argmax(bank[0]) < np.argmax(bank[4])


def _won_harmonic_filterbank(sr, n_fft, n_harmonic, semitone_scale, Q):
    """Won et al.'s HarmonicSTFT filterbank, written from their paper and code."""
    librosa = pytest.importorskip("librosa")
    low_midi = librosa.note_to_midi("C1")
    high_midi = librosa.note_to_midi(librosa.hz_to_note(sr / (2 * n_harmonic)))
    level = (high_midi - low_midi) * semitone_scale
    hz = librosa.midi_to_hz(np.linspace(low_midi, high_midi, level + 1)[:-1])
    f0 = np.concatenate([hz * (i + 1) for i in range(n_harmonic)])
    bw = (0.1079 * f0 + 24.7) / Q
    fft_bins = np.linspace(0, sr // 2, n_fft // 2 + 1)
    up = np.outer(fft_bins, 2 / bw) + 1 - 2 * f0 / bw
    down = np.outer(fft_bins, -2 / bw) + 1 + 2 * f0 / bw
    return np.maximum(0, np.minimum(down, up)), f0, level  # (n_freq, n_harmonic * level)


@pytest.mark.parametrize("n_harmonic, semitone_scale, Q", [(6, 2, 1.0), (1, 2, 1.0), (3, 1, 2.5)])
def test_harmonic_bank_equals_won_et_al(n_harmonic, semitone_scale, Q):
    fb, f0, level = _won_harmonic_filterbank(16000, 512, n_harmonic, semitone_scale, Q)
    bank = filters.harmonic(sr=16000, n_fft=512, n_harmonic=n_harmonic, semitone_scale=semitone_scale, Q=Q)
    assert bank.weights.shape == (n_harmonic, level, 257)
    np.testing.assert_allclose(bank.weights.reshape(-1, 257).T, fb, atol=1e-12)
    np.testing.assert_allclose(bank.center_hz.ravel(), f0, rtol=1e-12)


def test_harmonic_bank_tmnn_size():
    bank = filters.harmonic(sr=16000, n_fft=512)
    assert bank.weights.shape == (6, 128, 257)  # 128 bands from C1, as Won et al.
    assert bank.center_hz[-1].max() < 8000.0


@pytest.mark.parametrize("kwargs, match", [
    (dict(low_hz=[0.0], high_hz=[100.0]), r"low_hz=0.0.* \(0, 8000.0\] Hz"),
    (dict(low_hz=[100.0], high_hz=[9000.0]), r"high_hz=9000.0.*Nyquist"),
    (dict(low_hz=[500.0], high_hz=[400.0]), r"low_hz=500.0 >= high_hz=400.0"),
    (dict(kernel_size=0), "kernel_size=0 must be a positive integer"),
    (dict(n_filters=-3), "n_filters=-3 must be a positive integer"),
    (dict(low_hz=[100.0]), "give both low_hz and high_hz"),
])
def test_sinc_bandpass_rejects_bad_input(kwargs, match):
    with pytest.raises(ParameterError, match=match):
        filters.sinc_bandpass(sr=16000, **kwargs)


def test_modulation_designs_reject_bad_input():
    with pytest.raises(ParameterError, match=r"max_mod_hz=40.0 Hz is above the Nyquist frequency of the frame rate"):
        filters.modulation_sinc(frame_rate=62.5, max_mod_hz=40.0)
    with pytest.raises(ParameterError, match="kernel_size=0"):
        filters.modulation_sinc(frame_rate=62.5, kernel_size=0)
    with pytest.raises(ParameterError, match="kernel_size=-1"):
        filters.modulation_fir_init(kernel_size=-1)
    with pytest.raises(ParameterError, match="Q=0"):
        filters.harmonic(sr=16000, n_fft=512, Q=0)
    with pytest.raises(ParameterError, match="no band above C1"):
        filters.harmonic(sr=200, n_fft=64, n_harmonic=6)
