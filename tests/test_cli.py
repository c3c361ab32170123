import numpy as np
import pytest

from modspec import cli, features


def test_demo_writes_png_and_prints_features(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    assert cli.main(["demo", "--out", str(tmp_path)]) == 0
    printed = capsys.readouterr().out
    assert "melspectrogram  shape=(96, 313)" in printed
    png = tmp_path / "melspectrogram.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (tmp_path / "demo_clip.wav").stat().st_size > 0


def test_demo_clip_has_its_tremolo():
    y = cli.demo_clip(sr=16000, duration=4.0)
    assert y.dtype == np.float32 and y.shape == (64000,)
    # The first half's 220 Hz band is amplitude-modulated at 6 Hz.
    M = features.melspectrogram(y[:32000], sr=16000, n_fft=512, hop_length=128, n_mels=64)
    band = M[np.argmax(M.mean(axis=1))]
    envelope = np.abs(np.fft.rfft(band - band.mean()))
    rates = np.fft.rfftfreq(band.size, d=128 / 16000)
    assert abs(rates[envelope.argmax()] - 6.0) < 0.5
