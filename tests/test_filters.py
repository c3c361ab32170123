
import numpy as np
import pytest

from conftest import reference_files, rel_err
from modspec import ParameterError, filters


@pytest.mark.parametrize("name", reference_files("librosa_mel_filters_*.npz"))
def test_mel_matches_stored_librosa_banks(reference, name):
    ref = reference(name)
    sr, n_fft, n_mels = int(ref["param_sr"]), int(ref["param_n_fft"]), int(ref["param_n_mels"])
    for i in range(len(ref["variant_htk"])):
        fmax = None if np.isnan(ref["variant_fmax"][i]) else float(ref["variant_fmax"][i])
        norm = None if ref["variant_norm"][i] == "None" else str(ref["variant_norm"][i])
        kwargs = dict(sr=sr, n_fft=n_fft, n_mels=n_mels, fmin=float(ref["variant_fmin"][i]), fmax=fmax,
                      htk=bool(ref["variant_htk"][i]), norm=norm)
        bank = filters.mel(**kwargs, dtype=np.float64)
        assert bank.dtype == np.float64
        assert rel_err(bank, ref["mel_fb"][i]) <= 1e-10, ref["variant_call"][i]
        assert rel_err(filters.mel(**kwargs, dtype=np.float32), ref["mel_fb"][i]) <= 1e-6
        edges = filters.mel_frequencies(n_mels + 2, fmin=kwargs["fmin"], fmax=ref["variant_fmax_effective"][i],
                                        htk=kwargs["htk"])
        np.testing.assert_allclose(edges, ref["mel_band_edges_hz"][i], rtol=1e-12)
    np.testing.assert_allclose(filters.fft_frequencies(sr=sr, n_fft=n_fft), ref["fft_frequencies"], rtol=1e-12)


@pytest.mark.parametrize("norm", [None, "slaney", 1.0, 2.0, np.inf, -np.inf])
@pytest.mark.parametrize("htk", [False, True])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_mel_matches_live_librosa_every_option(norm, htk, dtype):
    librosa = pytest.importorskip("librosa")
    kwargs = dict(sr=22050, n_fft=1024, n_mels=64, fmin=30.0, fmax=9000.0, htk=htk, norm=norm, dtype=dtype)
    ours, theirs = filters.mel(**kwargs), librosa.filters.mel(**kwargs)
    assert ours.dtype == theirs.dtype == dtype
    assert rel_err(ours, theirs) <= (1e-6 if dtype == np.float32 else 1e-12)


def test_mel_bands_peak_near_their_centres():
    bank = filters.mel(sr=16000, n_fft=2048, n_mels=40, dtype=np.float64)
    centres = filters.mel_frequencies(42, fmin=0.0, fmax=8000.0)[1:-1]
    fft_freqs = filters.fft_frequencies(sr=16000, n_fft=2048)
    peaks = fft_freqs[bank.argmax(axis=1)]
    assert np.all(np.abs(peaks - centres) <= 16000 / 2048)
    assert np.all(bank >= 0)


def test_hz_mel_round_trip_and_scalars():
    f = np.array([0.0, 440.0, 1000.0, 4000.0, 11025.0])
    for htk in (False, True):
        np.testing.assert_allclose(filters.mel_to_hz(filters.hz_to_mel(f, htk=htk), htk=htk), f, atol=1e-9)
    assert filters.hz_to_mel(1000.0) == pytest.approx(15.0)
    assert filters.hz_to_mel(2000.0) == pytest.approx(15.0 + np.log(2) / (np.log(6.4) / 27))


def test_designs_are_memoised_and_read_only():
    a = filters.mel(sr=16000, n_fft=512, n_mels=96)
    b = filters.mel(sr=16000, n_fft=512, n_mels=96)
    assert a is b
    with pytest.raises(ValueError):
        a[0, 0] = 1.0
    w = filters.get_window("hann", 512)
    assert w is filters.get_window("hann", 512)
    assert not w.flags.writeable


def test_empty_mel_bands_warn_on_every_call():
    for _ in range(2):
        with pytest.warns(UserWarning, match="Empty filters"):
            filters.mel(sr=16000, n_fft=128, n_mels=128)


def test_mel_rejects_bad_arguments():
    with pytest.raises(ParameterError, match="fmax=9000.0 Hz is above the Nyquist"):
        filters.mel(sr=16000, n_fft=512, fmax=9000.0)
    with pytest.raises(ParameterError, match="fmin=5000"):
        filters.mel(sr=16000, n_fft=512, fmin=5000.0, fmax=4000.0)
    with pytest.raises(ParameterError, match="norm='htk'"):
        filters.mel(sr=16000, n_fft=512, norm="htk")
    with pytest.raises(ParameterError, match="n_mels=0"):
        filters.mel(sr=16000, n_fft=512, n_mels=0)
    with pytest.raises(ParameterError, match="sr=-1"):
        filters.mel(sr=-1, n_fft=512)
    with pytest.raises(ParameterError, match="dtype"):
        filters.mel(sr=16000, n_fft=512, dtype=np.int32)


def test_a_weighting_matches_stored_librosa(reference):
    ref = reference("librosa_A_weighting.npz")
    for key in ref.files:
        if not key.startswith("aweight_"):
            continue
        base, min_db = key[len("aweight_"):].rsplit("_mindb", 1)
        freqs = ref["freqs_" + base]
        ours = filters.a_weighting(freqs, min_db=None if min_db == "None" else float(min_db))
        finite = np.isfinite(ref[key])
        np.testing.assert_array_equal(np.isfinite(ours), finite)
        np.testing.assert_allclose(ours[finite], ref[key][finite], atol=1e-9)


def test_a_weighting_is_zero_db_near_1khz():
    assert abs(filters.a_weighting(1000.0)) < 0.01
    assert filters.a_weighting(0.0, min_db=None) == -np.inf
    assert filters.a_weighting(0.0) == -80.0


def test_get_window_matches_librosa_padding():
    librosa = pytest.importorskip("librosa")
    ours = filters.get_window("hamming", 512, win_length=400)
    theirs = librosa.util.pad_center(librosa.filters.get_window("hamming", 400, fftbins=True), size=512)
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-15)
    custom = np.linspace(0, 1, 300)
    np.testing.assert_array_equal(filters.get_window(custom, 512, win_length=300)[106:406], custom)
    with pytest.raises(ParameterError, match="window='nope'"):
        filters.get_window("nope", 512)
    with pytest.raises(ParameterError, match="win_length=600 must be <= n_fft=512"):
        filters.get_window("hann", 512, win_length=600)
