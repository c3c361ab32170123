"""Bad input: one test per case, each a ParameterError naming the argument and the fix."""

import numpy as np
import pytest

import modspec.features as mf
from modspec import ParameterError, filters


@pytest.fixture
def y():
    return np.random.default_rng(0).standard_normal(4000).astype(np.float32)


def test_parameter_error_is_a_value_error():
    assert issubclass(ParameterError, ValueError)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_samples(y, bad):
    y[100] = bad
    with pytest.raises(ParameterError, match=r"y contains 1 non-finite sample.*np.nan_to_num"):
        mf.melspectrogram(y, sr=16000)


def test_integer_input_says_how_to_convert():
    pcm = np.zeros(4000, dtype=np.int16)
    with pytest.raises(ParameterError, match=r"dtype int16.*astype\(np.float32\) / np.iinfo"):
        mf.stft(pcm)


def test_complex_input():
    with pytest.raises(ParameterError, match=r"complex dtype complex128.*\.real"):
        mf.spectrogram(np.zeros(4000, dtype=np.complex128))


def test_float16_and_lists_are_refused():
    with pytest.raises(ParameterError, match="float16"):
        mf.stft(np.zeros(4000, dtype=np.float16))
    with pytest.raises(ParameterError, match="must be a NumPy array, got list"):
        mf.stft([0.0] * 4000)


def test_wrong_rank():
    with pytest.raises(ParameterError, match=r"y must have at least 1 axis.*got shape \(\)"):
        mf.stft(np.ones((), dtype=np.float32))
    with pytest.raises(ParameterError, match=r"S must have at least 2 axis.*got shape \(10,\)"):
        mf.melspectrogram(S=np.ones(10, dtype=np.float32), sr=16000)
    with pytest.raises(ParameterError, match="S must have at least 2"):
        mf.standardize(np.ones(10))


def test_empty_signal():
    with pytest.raises(ParameterError, match="the signal is empty"):
        mf.stft(np.zeros((2, 0)))


def test_signal_shorter_than_n_fft_without_centering(y):
    with pytest.raises(ParameterError, match=r"n_fft=8192 is too large for uncentered analysis .* length=4000"):
        mf.stft(y, n_fft=8192, center=False)


@pytest.mark.parametrize("name, kwargs", [
    ("n_fft", dict(n_fft=0)),
    ("n_fft", dict(n_fft=-512)),
    ("hop_length", dict(hop_length=0)),
    ("win_length", dict(win_length=-1)),
    ("n_fft", dict(n_fft=512.0)),
])
def test_non_positive_sizes(y, name, kwargs):
    with pytest.raises(ParameterError, match=f"{name}=.* must be a positive integer"):
        mf.stft(y, **kwargs)


def test_non_positive_n_mels(y):
    with pytest.raises(ParameterError, match="n_mels=0 must be a positive integer"):
        mf.melspectrogram(y, sr=16000, n_mels=0)


def test_fmax_above_nyquist(y):
    with pytest.raises(ParameterError, match=r"fmax=10000.0 Hz is above the Nyquist frequency sr/2=8000.0"):
        mf.melspectrogram(y, sr=16000, fmax=10000.0)


def test_empty_mel_bands_warn(y):
    with pytest.warns(UserWarning, match=r"Empty filters detected .* n_fft=64") as record:
        mf.melspectrogram(y, sr=16000, n_fft=64, hop_length=32, n_mels=64)
    # Attributed to the caller's line, however deep inside modspec the warning is raised.
    assert {w.filename for w in record} == {__file__}


def test_short_signal_warning_points_at_the_caller():
    with pytest.warns(UserWarning, match="n_fft=512 is too large") as record:
        mf.melspectrogram(np.zeros(300, np.float32), sr=16000, n_fft=512, hop_length=160, n_mels=8)
    assert record[0].filename == __file__


def test_bad_pad_mode_and_window(y):
    with pytest.raises(ParameterError, match=r"pad_mode='edge' is not supported"):
        mf.stft(y, pad_mode="edge")
    with pytest.raises(ParameterError, match=r"window='hannn'"):
        mf.stft(y, window="hannn")
    with pytest.raises(ParameterError, match="window array has shape"):
        mf.stft(y, n_fft=512, window=np.ones(100))


def test_bad_power(y):
    with pytest.raises(ParameterError, match="power=0 must be a positive number"):
        mf.spectrogram(y, power=0)


def test_y_and_s_exclusive(y):
    with pytest.raises(ParameterError, match="exactly one of y"):
        mf.melspectrogram(sr=16000)
    S = mf.spectrogram(y, n_fft=512)
    with pytest.raises(ParameterError, match="exactly one of y"):
        mf.melspectrogram(y, S=S, sr=16000)
    with pytest.raises(ParameterError, match=r"S has 257 frequency bins but n_fft=2048.*pass n_fft=512"):
        mf.melspectrogram(S=S, sr=16000)


def test_db_arguments():
    S = np.ones((4, 4))
    with pytest.raises(ParameterError, match="amin=0 must be a finite number, strictly positive"):
        mf.power_to_db(S, amin=0)
    with pytest.raises(ParameterError, match="top_db=-1 must be a finite non-negative number"):
        mf.amplitude_to_db(S, top_db=-1)
    for bad in ("x", True, np.inf):
        with pytest.raises(ParameterError, match="top_db="):
            mf.power_to_db(S, top_db=bad)
        with pytest.raises(ParameterError, match="amin="):
            mf.power_to_db(S, amin=bad)
    with pytest.raises(ParameterError, match="S is complex"):
        mf.power_to_db(S.astype(complex))


def test_preprocess_arguments():
    S = np.ones((4, 4), dtype=np.float32)
    with pytest.raises(ParameterError, match="C=0 must be positive"):
        mf.log_compress(S, C=0)
    with pytest.raises(ParameterError, match="negative values"):
        mf.log_compress(-S)
    with pytest.raises(ParameterError, match="mode='time'"):
        mf.standardize(S, mode="time")
    with pytest.raises(ParameterError, match="give both mean and std"):
        mf.standardize(S, mean=0.0)
    with pytest.raises(ParameterError, match=r"frequencies has shape \(3,\)"):
        mf.a_weight(S, frequencies=np.ones(3))
    with pytest.raises(ParameterError, match="kind='loud'"):
        mf.a_weight(S, frequencies=filters.fft_frequencies(sr=8, n_fft=6), kind="loud")
