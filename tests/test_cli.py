import numpy as np
import pytest

from modspec import cli, features


def test_features_writes_png_and_prints_features(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    assert cli.main(["features", "--out", str(tmp_path)]) == 0
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


# --- train / evaluate / predict / demo / models (the training extra) --------------------------

def _small_train(out, *extra):
    return cli.main(["train", "--model", "dieleman2014", "--data", "synthetic:8", "--duration", "3", "--epochs", "2",
                     "--batch-size", "4", "--out", str(out), "--quiet", *extra])


def test_train_evaluate_predict(tmp_path, capsys):
    pytest.importorskip("sklearn")
    from modspec import io
    from modspec.data import Synthetic

    assert _small_train(tmp_path / "run") == 0
    assert "best epoch" in capsys.readouterr().out
    assert (tmp_path / "run" / "best.pt").exists() and (tmp_path / "run" / "log.jsonl").exists()

    assert cli.main(["evaluate", str(tmp_path / "run"), "--json", str(tmp_path / "m.json"), "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "ROC-AUC" in printed and "tremolo_fast" in printed
    import json

    metrics = json.loads((tmp_path / "m.json").read_text())
    assert metrics["model"] == "dieleman2014" and len(metrics["per_tag"]) == len(Synthetic.TAGS)
    assert metrics["n_clips"] == 4  # synthetic:8 -> 4 test clips

    clip = tmp_path / "clip.wav"
    io.save(clip, Synthetic(1, split="test", duration=3.0)[0][0].numpy(), 16000)
    (tmp_path / "broken.wav").write_bytes(b"RIFF....not audio")
    code = cli.main(["predict", str(tmp_path / "run" / "best.pt"), str(clip), str(tmp_path / "broken.wav"), "--top", "3"])
    captured = capsys.readouterr()
    assert code == 1  # one file could not be read: reported, the other still predicted
    line = [x for x in captured.out.splitlines() if x.startswith(str(clip))][0]
    assert len(line.split(":", 1)[1].split(",")) == 3
    assert "broken.wav: skipped" in captured.err


def test_train_refuses_an_existing_run_then_resumes(tmp_path, capsys):
    pytest.importorskip("sklearn")
    assert _small_train(tmp_path / "run") == 0
    assert _small_train(tmp_path / "run") == 2
    assert "already holds a run" in capsys.readouterr().err
    assert _small_train(tmp_path / "run", "--resume", "--epochs", "3") == 0
    assert len((tmp_path / "run" / "log.jsonl").read_text().splitlines()) == 3


@pytest.mark.parametrize("argv, message", [
    (["train", "--model", "dieleman2014", "--data", "mtat"], "names no folder"),
    (["train", "--model", "dieleman2014", "--data", "imagenet:/x"], "unknown kind 'imagenet'"),
    (["train", "--model", "nope"], "unknown model 'nope'"),
    (["train", "--model", "dieleman2014", "--option", "stride=300", "--epochs", "1"], "stride=300"),
    (["evaluate", "/nonexistent/best.pt"], "does not exist"),
])
def test_bad_arguments_fail_clearly(argv, message, capsys, tmp_path):
    pytest.importorskip("sklearn")
    assert cli.main([*argv, "--out", str(tmp_path / "o")] if argv[0] == "train" else argv) == 2
    assert message in capsys.readouterr().err


def test_models_lists_and_summarises(capsys):
    assert cli.main(["models"]) == 0
    assert "sincmodnet" in capsys.readouterr().out.split()
    assert cli.main(["models", "dieleman2014", "--option", "frontend=raw"]) == 0
    assert "total" in capsys.readouterr().out


def test_demo_trains_compares_and_plots(tmp_path, capsys):
    pytest.importorskip("sklearn")
    pytest.importorskip("matplotlib")
    from modspec.train.demo import run_demo

    models = (("dieleman2014", {"frontend": "mel"}, 1), ("sincmodnet", {"duration": 1.0}, 1))
    results = run_demo(tmp_path, n_train=8, duration=2.0, models=models, progress=False)
    assert set(results) == {"dieleman2014", "sincmodnet"}
    printed = capsys.readouterr().out
    assert "macro" in printed and "glissando_down" in printed
    for name in ("roc_auc_per_tag.png", "modulation_filters.png"):
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # a second run resumes the finished runs instead of training again
    run_demo(tmp_path, n_train=8, duration=2.0, models=models, progress=False)
    assert len((tmp_path / "sincmodnet" / "log.jsonl").read_text().splitlines()) == 1
