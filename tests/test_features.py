import json

import numpy as np
import pytest

from conftest import reference_files, rel_err
import modspec.features as mf
from modspec import ParameterError, filters

TOL = {np.float64: 1e-6, np.float32: 1e-4}


def _stft_kwargs(ref):
    return dict(
        n_fft=int(ref["param_n_fft"]), hop_length=int(ref["param_hop_length"]),
        center=bool(ref["param_center"]), pad_mode=str(ref["param_pad_mode"]), window=str(ref["param_window"]),
    )


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", reference_files("librosa_stft_*.npz"))
def test_stft_matches_stored_librosa(reference, name, dtype):
    ref = reference(name)
    x = ref["x"].astype(dtype)
    D = mf.stft(x, **_stft_kwargs(ref))
    assert D.dtype == (np.complex64 if dtype == np.float32 else np.complex128)
    assert rel_err(D, ref["D"]) <= TOL[dtype]
    if "power" in ref.files:
        power = mf.spectrogram(x, power=2.0, **_stft_kwargs(ref))
        magnitude = mf.spectrogram(x, power=1.0, **_stft_kwargs(ref))
        assert power.dtype == magnitude.dtype == dtype
        assert rel_err(power, ref["power"]) <= TOL[dtype]
        assert rel_err(magnitude, ref["magnitude"]) <= TOL[dtype]
        # Per-signal reference values: the batch gives each signal its own max.
        for key, ref_arg in [("amp_db_ref1_top80", 1.0), ("amp_db_refmax_top80", np.max)]:
            db = mf.amplitude_to_db(magnitude, ref=ref_arg, amin=1e-5, top_db=80.0)
            assert db.dtype == dtype
            assert rel_err(db, ref[key]) <= TOL[dtype]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", reference_files("librosa_melspectrogram_*.npz"))
def test_melspectrogram_matches_stored_librosa(reference, name, dtype):
    ref = reference(name)
    p = json.loads(str(ref["params_json"]))
    mel_kwargs = dict(sr=p["sr"], n_fft=p["n_fft"], n_mels=p["n_mels"], fmin=p["fmin"], fmax=p["fmax"],
                      htk=p["htk"], norm=p["norm"])
    x = ref["x"].astype(dtype)
    M = mf.melspectrogram(x, hop_length=p["hop_length"], center=p["center"], pad_mode=p["pad_mode"],
                          power=p["power"], window=p["window"], **mel_kwargs)
    assert M.dtype == dtype
    assert rel_err(M, ref["melspec"]) <= TOL[dtype]
    S = mf.spectrogram(x, n_fft=p["n_fft"], hop_length=p["hop_length"], center=p["center"], pad_mode=p["pad_mode"])
    assert rel_err(mf.melspectrogram(S=S, **mel_kwargs), ref["melspec"]) <= TOL[dtype]
    assert rel_err(filters.mel(**mel_kwargs, dtype=np.float64), ref["mel_basis"]) <= 1e-10
    for key, ref_arg, top_db in [("db_ref1_top80", 1.0, 80.0), ("db_ref1_notop", 1.0, None),
                                 ("db_refmax_top80", np.max, 80.0), ("db_refmax_notop", np.max, None)]:
        db = mf.power_to_db(M, ref=ref_arg, amin=p["db_amin"], top_db=top_db)
        assert db.dtype == dtype
        if dtype == np.float32 and top_db is None:
            # float32 FFTs resolve powers down to ~1e-7 of each frame's peak, so
            # bins more than 80 dB below a signal's maximum are rounding noise.
            peak = ref[key].max(axis=(-2, -1), keepdims=True)
            audible = ref[key] >= peak - 80.0
            assert rel_err(db[audible], ref[key][audible]) <= TOL[dtype], key
        else:
            assert rel_err(db, ref[key]) <= TOL[dtype], key


def test_short_signal_warns_and_matches_librosa(reference):
    ref = reference("librosa_short_signal_sr16000_n300_nfft512.npz")
    x = ref["x"]
    for mode in ("constant", "reflect"):
        with pytest.warns(UserWarning, match="n_fft=512 is too large for input signal of length=300"):
            D = mf.stft(x, n_fft=512, hop_length=160, pad_mode=mode)
        assert rel_err(D, ref["D_" + mode]) <= 1e-6
    with pytest.warns(UserWarning):
        M = mf.melspectrogram(x, sr=16000, n_fft=512, hop_length=160, n_mels=96)
    assert rel_err(M, ref["melspec"]) <= 1e-6
    with pytest.raises(ParameterError, match="n_fft=512 is too large for uncentered analysis"):
        mf.stft(x, n_fft=512, center=False)


def test_db_conversions_match_stored_grid(reference):
    ref = reference("librosa_db_conversions.npz")
    for i in range(len(ref["power_ref"])):
        ref_arg = np.max if ref["power_ref"][i] == "np.max" else float(ref["power_ref"][i])
        top_db = None if np.isnan(ref["power_top_db"][i]) else float(ref["power_top_db"][i])
        db = mf.power_to_db(ref["S_power"], ref=ref_arg, amin=float(ref["power_amin"][i]), top_db=top_db)
        np.testing.assert_allclose(db, ref["power_db"][i], atol=1e-9, rtol=0)
    for i in range(len(ref["amplitude_ref"])):
        ref_arg = np.max if ref["amplitude_ref"][i] == "np.max" else float(ref["amplitude_ref"][i])
        top_db = None if np.isnan(ref["amplitude_top_db"][i]) else float(ref["amplitude_top_db"][i])
        db = mf.amplitude_to_db(ref["S_amplitude"], ref=ref_arg, amin=float(ref["amplitude_amin"][i]), top_db=top_db)
        np.testing.assert_allclose(db, ref["amplitude_db"][i], atol=1e-9, rtol=0)


STFT_OPTIONS = [
    dict(n_fft=512, hop_length=128, center=True, pad_mode="constant", window="hann"),
    dict(n_fft=512, hop_length=100, win_length=400, center=True, pad_mode="reflect", window="hamming"),
    dict(n_fft=256, hop_length=64, center=False, pad_mode="constant", window=("kaiser", 8.0)),
    dict(n_fft=1024, hop_length=None, center=True, pad_mode="reflect", window="blackman"),
]


@pytest.mark.parametrize("options", STFT_OPTIONS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_stft_and_mel_match_live_librosa(options, dtype, rng):
    librosa = pytest.importorskip("librosa")
    y = rng.standard_normal((2, 5000)).astype(dtype)
    D = mf.stft(y, **options)
    D_ref = librosa.stft(y.astype(np.float64), **options)
    assert rel_err(D, D_ref) <= TOL[dtype]
    mel_options = {k: v for k, v in options.items()}
    M = mf.melspectrogram(y, sr=16000, n_mels=40, fmin=50.0, fmax=7000.0, htk=True, norm=2.0, power=1.0,
                          **mel_options)
    M_ref = librosa.feature.melspectrogram(y=y.astype(np.float64), sr=16000, n_mels=40, fmin=50.0, fmax=7000.0,
                                           htk=True, norm=2.0, power=1.0, dtype=np.float64, **mel_options)
    assert rel_err(M, M_ref) <= TOL[dtype]


def test_window_as_array_matches_name(rng):
    y = rng.standard_normal(3000)
    by_name = mf.stft(y, n_fft=256, hop_length=64, window="hann")
    by_array = mf.stft(y, n_fft=256, hop_length=64, window=filters.get_window("hann", 256))
    np.testing.assert_array_equal(by_name, by_array)


def test_frame_count_and_centering():
    y = np.zeros(16000, dtype=np.float32)
    y[8000] = 1.0
    S = mf.spectrogram(y, n_fft=512, hop_length=256)
    assert S.shape == (257, 1 + 16000 // 256)
    # A click at sample 8000 lands in the frame centred there: t = 8000 / 256 ≈ 31.25.
    assert S.sum(axis=0).argmax() in (31, 32)
    assert mf.spectrogram(y, n_fft=512, hop_length=256, center=False).shape == (257, 1 + (16000 - 512) // 256)


def test_tone_peaks_at_its_bin():
    sr, f0 = 16000, 1000.0
    y = np.sin(2 * np.pi * f0 * np.arange(sr) / sr)
    S = mf.spectrogram(y, n_fft=512, hop_length=256)
    assert S.mean(axis=1).argmax() == round(f0 * 512 / sr)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_batch_equals_item_by_item(rng, dtype):
    y = rng.standard_normal((2, 3, 4000)).astype(dtype)
    kwargs = dict(n_fft=512, hop_length=160)
    D = mf.stft(y, **kwargs)
    M = mf.melspectrogram(y, sr=16000, n_mels=64, **kwargs)
    assert D.shape[:2] == M.shape[:2] == (2, 3)
    db = mf.power_to_db(M, ref=np.max, top_db=60.0)
    for i in range(2):
        for j in range(3):
            np.testing.assert_array_equal(D[i, j], mf.stft(y[i, j], **kwargs))
            np.testing.assert_allclose(M[i, j], mf.melspectrogram(y[i, j], sr=16000, n_mels=64, **kwargs),
                                       rtol=1e-6 if dtype == np.float32 else 1e-12)
            np.testing.assert_allclose(db[i, j], mf.power_to_db(M[i, j], ref=np.max, top_db=60.0), rtol=1e-6)


def test_non_contiguous_input_is_handled(rng):
    y = rng.standard_normal((4000, 2))  # channels last: y.T is not C-contiguous
    np.testing.assert_array_equal(mf.stft(y.T, n_fft=256), mf.stft(np.ascontiguousarray(y.T), n_fft=256))


def test_log_compress_and_scale(rng):
    S = rng.random((3, 8, 10)).astype(np.float32)
    out = mf.log_compress(S, C=10000.0)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, np.log1p(10000.0 * S.astype(np.float64)), rtol=1e-6)
    np.testing.assert_array_equal(mf.scale(S, factor=10.0), S * np.float32(10.0))
    assert mf.scale(S).dtype == np.float32


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_standardize_per_sample_and_per_frequency(rng, dtype):
    S = (rng.random((4, 16, 50)) * np.arange(1, 17)[:, None] + 3).astype(dtype)
    per_sample = mf.standardize(S, mode="sample")
    assert per_sample.dtype == dtype
    np.testing.assert_allclose(per_sample.mean(axis=(-2, -1)), 0, atol=1e-5)
    np.testing.assert_allclose(per_sample.std(axis=(-2, -1)), 1, atol=1e-4)
    per_freq = mf.standardize(S, mode="frequency")
    np.testing.assert_allclose(per_freq.mean(axis=-1), 0, atol=1e-5)
    np.testing.assert_allclose(per_freq.std(axis=-1), 1, atol=1e-4)
    # Training-set statistics given explicitly.
    mean, std = S.mean(axis=(0, 2)), S.std(axis=(0, 2))
    given = mf.standardize(S, mode="frequency", mean=mean, std=std)
    np.testing.assert_allclose(given, (S - mean[:, None]) / (std[:, None] + 1e-8), rtol=1e-5)


def test_a_weight_db_and_power(rng):
    librosa = pytest.importorskip("librosa")
    freqs = filters.fft_frequencies(sr=16000, n_fft=512)[1:]  # 0 Hz has no finite A-weighting
    S = rng.random((256, 20)) + 0.1
    S_db = mf.power_to_db(S)
    weighted_db = mf.a_weight(S_db, frequencies=freqs, kind="db")
    np.testing.assert_allclose(weighted_db - S_db, np.repeat(librosa.A_weighting(freqs)[:, None], 20, 1), atol=1e-9)
    weighted_power = mf.a_weight(S, frequencies=freqs, kind="power")
    np.testing.assert_allclose(mf.power_to_db(weighted_power, top_db=None), mf.power_to_db(S, top_db=None)
                               + librosa.A_weighting(freqs)[:, None], atol=1e-9)
    mel_centres = filters.mel_frequencies(98, fmin=0.0, fmax=8000.0)[1:-1]
    M = rng.random((2, 96, 5)).astype(np.float32)
    assert mf.a_weight(M, frequencies=mel_centres, kind="amplitude").dtype == np.float32
