"""Tests for modspec.io: load / save / resample through soundfile and scipy."""

import os
import re
import subprocess
import sys
import warnings

import numpy as np
import pytest

sf = pytest.importorskip("soundfile")

from modspec.errors import ParameterError  # noqa: E402
from modspec.io import TruncatedAudioWarning, load, resample, save  # noqa: E402

SR = 44100
F0 = 440.0


@pytest.fixture
def rng():
    return np.random.default_rng(20240501)


def sine(sr=SR, seconds=1.0, freq=F0, amp=0.5, dtype=np.float32):
    t = np.arange(int(round(sr * seconds))) / sr
    return (amp * np.sin(2 * np.pi * freq * t)).astype(dtype)


def peak_hz(y, sr):
    spectrum = np.abs(np.fft.rfft(y * np.hanning(len(y))))
    return np.fft.rfftfreq(len(y), 1 / sr)[np.argmax(spectrum)]


def needs_format(fmt):
    return pytest.mark.skipif(
        fmt not in sf.available_formats(),
        reason=f"this libsndfile build has no {fmt} support "
        f"(soundfile.available_formats() lacks it)",
    )


def no_temp_files(directory):
    return [p for p in os.listdir(directory) if p.endswith(".tmp")] == []


# ------------------------------------------------------------------------ import cost


def test_import_does_not_load_soundfile_or_scipy_signal():
    code = (
        "import sys, modspec; before = set(sys.modules); import modspec.io; "
        "new = set(sys.modules) - before; "
        "print(sorted(m for m in new if m.split('.')[0] in ('soundfile', 'scipy')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert out == "[]"


# ------------------------------------------------------------------------ round trips


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_wav_float_round_trip_is_exact(tmp_path, dtype):
    y = sine(dtype=dtype)
    path = tmp_path / "tone.wav"
    sf.write(path, y, SR, subtype="FLOAT" if dtype == np.float32 else "DOUBLE")
    y2, sr2 = load(path, dtype=dtype)
    assert sr2 == SR
    assert y2.dtype == dtype
    assert y2.shape == y.shape
    np.testing.assert_array_equal(y2, y)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dtype_preserved_for_pcm(tmp_path, dtype):
    path = tmp_path / "tone.wav"
    sf.write(path, sine(), SR, subtype="PCM_16")
    y, _ = load(path, dtype=dtype)
    assert y.dtype == np.dtype(dtype)
    y2, _ = load(path, dtype=dtype, mono=False)
    assert y2.dtype == np.dtype(dtype)
    y3, _ = load(path, dtype=dtype, sr=16000)
    assert y3.dtype == np.dtype(dtype)


@pytest.mark.parametrize(
    "ext, subtype, atol",
    [
        ("wav", "PCM_16", 1 / 32768),
        ("wav", "PCM_24", 1 / 2**23),
        ("flac", "PCM_16", 1 / 32768),
        ("flac", "PCM_24", 1 / 2**23),
    ],
)
def test_lossless_round_trip_through_save_and_load(tmp_path, ext, subtype, atol):
    y = sine()
    path = tmp_path / f"tone.{ext}"
    save(path, y, SR, subtype=subtype)
    assert sf.info(str(path)).subtype == subtype
    y2, sr2 = load(path)
    assert sr2 == SR and y2.shape == y.shape
    err = np.max(np.abs(y2 - y))
    assert err <= atol
    # soundfile reads the file save wrote identically
    ref, _ = sf.read(path, dtype="float32")
    np.testing.assert_array_equal(y2, ref)


def test_save_default_subtype_is_soundfile_default(tmp_path):
    path = tmp_path / "tone.flac"
    save(path, sine(), SR)
    assert sf.info(str(path)).subtype == sf.default_subtype("FLAC")
    assert sf.info(str(path)).format == "FLAC"


@pytest.mark.parametrize(
    "ext, fmt",
    [
        pytest.param("ogg", "OGG", marks=needs_format("OGG")),
        pytest.param("mp3", "MP3", marks=needs_format("MP3")),
    ],
)
def test_lossy_round_trip(tmp_path, ext, fmt):
    y = sine()
    # written by soundfile, read by load
    p1 = tmp_path / f"a.{ext}"
    sf.write(p1, y, SR)
    y1, sr1 = load(p1)
    # written by save, read by soundfile and load
    p2 = tmp_path / f"b.{ext}"
    save(p2, y, SR)
    assert sf.info(str(p2)).format == fmt
    y2, sr2 = load(p2)
    for out, sr_out in ((y1, sr1), (y2, sr2)):
        assert sr_out == SR
        assert out.dtype == np.float32
        assert abs(len(out) - len(y)) <= 1152  # at most one codec frame of padding
        n = min(len(out), len(y))
        assert np.corrcoef(out[:n], y[:n])[0, 1] > 0.99
        assert peak_hz(out, SR) == pytest.approx(F0, abs=1.0)


# ---------------------------------------------------------------------- channels


def test_mono_downmix_is_channel_mean(tmp_path):
    left = sine(freq=440.0)
    right = sine(freq=1000.0, amp=0.25)
    path = tmp_path / "stereo.wav"
    sf.write(path, np.stack([left, right], axis=1), SR, subtype="FLOAT")
    y, _ = load(path)
    assert y.shape == (len(left),)
    np.testing.assert_allclose(y, (left + right) / 2, rtol=0, atol=1e-7)


def test_multichannel_is_channels_first(tmp_path, rng):
    data = (0.1 * rng.standard_normal((3, 2000))).astype(np.float32)
    path = tmp_path / "three.wav"
    sf.write(path, data.T, 8000, subtype="FLOAT")
    y, sr = load(path, mono=False)
    assert sr == 8000
    assert y.shape == (3, 2000)
    assert y.flags.c_contiguous
    np.testing.assert_array_equal(y, data)


def test_mono_file_with_mono_false_is_2d(tmp_path):
    path = tmp_path / "mono.wav"
    sf.write(path, sine(), SR, subtype="FLOAT")
    y, _ = load(path, mono=False)
    assert y.shape == (1, SR)
    np.testing.assert_array_equal(y[0], sine())


def test_save_multichannel_writes_channels(tmp_path, rng):
    data = (0.1 * rng.standard_normal((2, 1500))).astype(np.float32)
    path = tmp_path / "st.wav"
    save(path, data, 16000, subtype="FLOAT")
    ref, sr = sf.read(path, dtype="float32", always_2d=True)
    assert sr == 16000 and ref.shape == (1500, 2)
    np.testing.assert_array_equal(ref.T, data)


# ---------------------------------------------------------------- offset / duration


@pytest.fixture
def ramp_wav(tmp_path):
    """8 kHz stereo FLOAT wav whose samples identify their index."""
    n = 8000
    idx = np.arange(n, dtype=np.float32) / n
    data = np.stack([idx, -idx])  # (2, n)
    path = tmp_path / "ramp.wav"
    sf.write(path, data.T, 8000, subtype="FLOAT")
    return path, data


def test_offset_and_duration_select_exact_samples(ramp_wav):
    path, data = ramp_wav
    y, _ = load(path, mono=False, offset=0.125, duration=0.0625)
    np.testing.assert_array_equal(y, data[:, 1000:1500])


def test_offset_alone_reads_to_end(ramp_wav):
    path, data = ramp_wav
    y, _ = load(path, mono=False, offset=0.5)
    np.testing.assert_array_equal(y, data[:, 4000:])


def test_duration_alone_reads_from_start(ramp_wav):
    path, data = ramp_wav
    y, _ = load(path, mono=False, duration=0.01)
    np.testing.assert_array_equal(y, data[:, :80])


def test_duration_past_end_is_cut_at_end(ramp_wav):
    path, data = ramp_wav
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # not a truncated file: no warning
        y, _ = load(path, mono=False, offset=0.75, duration=10.0)
    np.testing.assert_array_equal(y, data[:, 6000:])


def test_offset_with_mono(ramp_wav):
    path, data = ramp_wav
    y, _ = load(path, offset=0.25, duration=0.001)
    np.testing.assert_array_equal(y, data[:, 2000:2008].mean(axis=0))
    # the two channels cancel: the downmix really averages
    assert np.all(y == 0)


def test_offset_duration_then_resample(ramp_wav):
    path, data = ramp_wav
    y, sr = load(path, mono=False, offset=0.125, duration=0.0625, sr=16000)
    assert sr == 16000
    np.testing.assert_allclose(
        y, resample(data[:, 1000:1500], orig_sr=8000, target_sr=16000), rtol=0, atol=1e-6
    )


# ---------------------------------------------------------------------- resampling


def test_resample_length_and_peak():
    y = sine(dtype=np.float64)
    out = resample(y, orig_sr=44100, target_sr=16000)
    assert out.shape == (16000,)
    assert out.dtype == np.float64
    assert peak_hz(out, 16000) == pytest.approx(F0, abs=1.0)
    # amplitude kept (the tone is far below the new Nyquist frequency)
    assert np.max(np.abs(out[100:-100])) == pytest.approx(0.5, rel=1e-2)


@pytest.mark.parametrize("n", [1, 441, 1001, 44101])
def test_resample_length_is_ceil(n, rng):
    y = rng.standard_normal(n)
    assert resample(y, orig_sr=44100, target_sr=16000).shape == (-(-n * 160 // 441),)


def test_resample_matches_librosa_polyphase():
    librosa = pytest.importorskip("librosa")
    y = sine(dtype=np.float64)
    ours = resample(y, orig_sr=44100, target_sr=16000)
    ref = librosa.resample(
        y, orig_sr=44100, target_sr=16000, res_type="polyphase", fix=True, scale=False
    )
    np.testing.assert_allclose(ours, ref, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_resample_keeps_dtype_and_leading_axes(dtype, rng):
    y = rng.standard_normal((2, 3, 4410)).astype(dtype)
    out = resample(y, orig_sr=44100, target_sr=22050)
    assert out.dtype == dtype
    assert out.shape == (2, 3, 2205)
    np.testing.assert_allclose(
        out[1, 2], resample(y[1, 2], orig_sr=44100, target_sr=22050), rtol=1e-6, atol=1e-6
    )


def test_resample_same_rate_is_identity(rng):
    y = rng.standard_normal(100)
    assert resample(y, orig_sr=16000, target_sr=16000.0) is y


def test_load_with_sr_resamples(tmp_path):
    path = tmp_path / "tone.wav"
    sf.write(path, sine(), SR, subtype="FLOAT")
    y, sr = load(path, sr=16000)
    assert sr == 16000
    assert y.shape == (16000,) and y.dtype == np.float32
    assert peak_hz(y, 16000) == pytest.approx(F0, abs=1.0)
    np.testing.assert_allclose(
        y, resample(sine(), orig_sr=SR, target_sr=16000), rtol=0, atol=1e-7
    )
    same, sr_same = load(path, sr=SR)
    assert sr_same == SR
    np.testing.assert_array_equal(same, sine())


@pytest.mark.parametrize("bad", [0, -16000, float("nan"), float("inf"), "16000", True])
def test_resample_bad_rates(bad):
    y = np.zeros(100)
    with pytest.raises(ParameterError, match="target_sr"):
        resample(y, orig_sr=16000, target_sr=bad)
    with pytest.raises(ParameterError, match="orig_sr"):
        resample(y, orig_sr=bad, target_sr=16000)


def test_resample_rejects_integer_signal():
    with pytest.raises(ParameterError, match="dtype int16"):
        resample(np.zeros(100, dtype=np.int16), orig_sr=16000, target_sr=8000)


# ---------------------------------------------------------------------- atomic save


def test_save_replaces_existing_file_and_leaves_no_temp(tmp_path):
    path = tmp_path / "out.wav"
    save(path, sine(amp=0.5), SR, subtype="FLOAT")
    save(path, sine(amp=0.25), SR, subtype="FLOAT")
    assert sorted(os.listdir(tmp_path)) == ["out.wav"]
    y, _ = load(path)
    np.testing.assert_array_equal(y, sine(amp=0.25))


@pytest.mark.skipif(os.name != "posix", reason="POSIX permission bits")
def test_save_gives_ordinary_permissions(tmp_path):
    path = tmp_path / "perm.wav"
    save(path, sine(), SR)
    umask = os.umask(0)
    os.umask(umask)
    assert (os.stat(path).st_mode & 0o777) == (0o666 & ~umask)


def test_failed_write_keeps_old_file_and_removes_temp(tmp_path, monkeypatch):
    path = tmp_path / "keep.wav"
    save(path, sine(amp=0.5), SR, subtype="FLOAT")
    before = path.read_bytes()

    def crash(self, data):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(sf.SoundFile, "write", crash)
    with pytest.raises(ParameterError, match=r"keep\.wav.*disk on fire"):
        save(path, sine(amp=0.25), SR, subtype="FLOAT")
    assert path.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["keep.wav"]


def test_interrupt_during_write_leaves_no_partial_file(tmp_path, monkeypatch):
    path = tmp_path / "new.wav"

    def interrupt(self, data):
        raise KeyboardInterrupt

    monkeypatch.setattr(sf.SoundFile, "write", interrupt)
    with pytest.raises(KeyboardInterrupt):
        save(path, sine(), SR)
    assert os.listdir(tmp_path) == []


@needs_format("MP3")
def test_save_libsndfile_error_is_parameter_error(tmp_path):
    path = tmp_path / "odd.mp3"
    with pytest.raises(ParameterError, match=r"odd\.mp3.*sample rate"):
        save(path, sine(sr=1234), 1234)
    assert os.listdir(tmp_path) == []


def test_save_into_missing_directory(tmp_path):
    path = tmp_path / "nowhere" / "x.wav"
    with pytest.raises(ParameterError, match=r"x\.wav"):
        save(path, sine(), SR)
    assert no_temp_files(tmp_path)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"path": "x.xyz"}, r"unknown extension 'xyz'"),
        ({"path": "noext"}, r"unknown extension ''"),
        ({"subtype": "VORBIS"}, r"subtype='VORBIS' is not available for WAV"),
        ({"sr": 0}, r"sr=0 must be a positive integer"),
        ({"sr": 22050.5}, r"sr=22050\.5 must be a positive integer"),
        ({"y": np.zeros((1, 2, 100), np.float32)}, r"shape \(1, 2, 100\)"),
        ({"y": np.zeros(100, np.int16)}, r"dtype int16"),
        ({"y": np.array([0.0, np.nan])}, r"non-finite"),
    ],
)
def test_save_bad_arguments(tmp_path, kwargs, match):
    args = {"path": "x.wav", "y": sine(), "sr": SR, "subtype": None}
    args.update(kwargs)
    with pytest.raises(ParameterError, match=match):
        save(tmp_path / args["path"], args["y"], args["sr"], subtype=args["subtype"])
    assert os.listdir(tmp_path) == []


def test_save_warns_when_pcm_clips(tmp_path):
    with pytest.warns(UserWarning, match=r"peaks at 2.*clips"):
        save(tmp_path / "loud.wav", sine(amp=2.0), SR, subtype="PCM_16")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        save(tmp_path / "loud_float.wav", sine(amp=2.0), SR, subtype="FLOAT")
    y, _ = load(tmp_path / "loud_float.wav")
    assert np.max(np.abs(y)) == pytest.approx(2.0, rel=1e-4)


# ----------------------------------------------------------------------- load errors


def test_missing_file(tmp_path):
    path = tmp_path / "ghost.wav"
    with pytest.raises(ParameterError, match=r"ghost\.wav'?: file not found"):
        load(path)


def test_directory_is_not_audio(tmp_path):
    with pytest.raises(ParameterError, match=rf"{re.escape(tmp_path.name)}.*not a regular file"):
        load(tmp_path)


def test_empty_zero_byte_file(tmp_path):
    path = tmp_path / "zero.wav"
    path.write_bytes(b"")
    with pytest.raises(ParameterError, match=r"zero\.wav'?: the file is empty \(0 bytes\)"):
        load(path)


def test_wav_with_header_only_is_empty(tmp_path):
    path = tmp_path / "header.wav"
    sf.write(path, np.zeros(0, np.float32), SR, subtype="PCM_16")
    assert sf.info(str(path)).frames == 0
    with pytest.raises(ParameterError, match=r"header\.wav'?: the file is empty"):
        load(path)


def test_text_file_renamed_wav(tmp_path):
    path = tmp_path / "notes.wav"
    path.write_text("these are not audio samples\n" * 10)
    with pytest.raises(
        ParameterError, match=r"notes\.wav'?: not a supported audio format or corrupt: .+"
    ) as info:
        load(path)
    assert isinstance(info.value.__cause__, RuntimeError)  # soundfile's error is chained


def write_truncated(path, y, subtype):
    """Write ``y`` with soundfile, then keep only the first half of the file's bytes."""
    sf.write(path, y, SR, subtype=subtype)
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) // 2])
    return len(raw) // 2


def test_truncated_wav_warns_and_returns_samples_present(tmp_path):
    # Behaviour: the samples present in a cut-off WAV are valid PCM, so load returns
    # them and emits a TruncatedAudioWarning naming the file and the byte counts.
    y = sine()
    path = tmp_path / "cut.wav"
    n_bytes = write_truncated(path, y, "PCM_16")
    expected_frames = (n_bytes - 44) // 2  # 44-byte header, 2 bytes per mono frame
    with pytest.warns(TruncatedAudioWarning, match=r"cut\.wav'? is truncated.*88200 bytes"):
        out, sr = load(path)
    assert sr == SR
    assert len(out) == expected_frames
    full, _ = sf.read(tmp_path / "cut.wav", dtype="float32")
    np.testing.assert_array_equal(out, full)
    assert np.max(np.abs(out - y[: len(out)])) <= 1 / 32768


def test_truncated_wav_inside_present_part_is_silent_and_exact(tmp_path):
    y = sine()
    path = tmp_path / "cut.wav"
    write_truncated(path, y, "FLOAT")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out, _ = load(path, offset=0.1, duration=0.1)
    np.testing.assert_array_equal(out, y[4410:8820])


def test_truncated_wav_warning_can_become_error(tmp_path):
    path = tmp_path / "cut.wav"
    write_truncated(path, sine(), "PCM_16")
    with warnings.catch_warnings():
        warnings.simplefilter("error", TruncatedAudioWarning)
        with pytest.raises(TruncatedAudioWarning):
            load(path)


def test_truncated_flac_is_corrupt(tmp_path):
    path = tmp_path / "cut.flac"
    write_truncated(path, sine(), "PCM_16")
    with pytest.raises(
        ParameterError, match=r"cut\.flac'?: not a supported audio format or corrupt"
    ):
        load(path)


@pytest.mark.parametrize("offset", [1.0, 1.5, 1e6])
def test_offset_beyond_end(tmp_path, offset):
    path = tmp_path / "short.wav"
    sf.write(path, sine(), SR)  # exactly 1 s
    with pytest.raises(ParameterError, match=r"short\.wav'?: offset=.* beyond the end"):
        load(path, offset=offset)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"offset": -0.5}, r"offset=-0\.5 must be a finite number of seconds >= 0"),
        ({"offset": float("nan")}, r"offset=nan"),
        ({"duration": 0}, r"duration=0 must be a finite number of seconds > 0"),
        ({"duration": -1.0}, r"duration=-1\.0"),
        ({"duration": float("inf")}, r"duration=inf"),
        ({"duration": 1e-7}, r"duration=1e-07 s is shorter than one sample.*tone\.wav"),
        ({"sr": 0}, r"sr=0 must be None or a positive number"),
        ({"sr": -16000}, r"sr=-16000"),
        ({"dtype": np.int16}, r"dtype=.*int16.* use np\.float32 or np\.float64"),
        ({"dtype": np.float16}, r"dtype=.*float16"),
        ({"dtype": "nonsense"}, r"dtype='nonsense'"),
        ({"dtype": None}, r"dtype=None"),
    ],
)
def test_load_bad_arguments(tmp_path, kwargs, match):
    path = tmp_path / "tone.wav"
    sf.write(path, sine(), SR)
    with pytest.raises(ParameterError, match=match):
        load(path, **kwargs)


def test_parameter_error_is_value_error(tmp_path):
    with pytest.raises(ValueError):
        load(tmp_path / "ghost.flac")
