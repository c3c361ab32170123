"""Smoke tests of the model training benchmarks: output structure and set-up, never speed."""

import json
import sys
import time
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # `pytest` (not `python -m pytest`) does not put the root on sys.path
    sys.path.insert(0, str(REPO))

import modspec.models as mm
from benchmarks import compare_models
from benchmarks.benchmarks import models as asv_models
from modspec.errors import ParameterError

#: jtfs_packnet shrunk to a 1024-sample window (its docstring's example) so that the features take ~0.1 s.
TINY_JTFS = {"n_samples": 1024, "J": 6, "Q": (8, 2)}


@pytest.fixture(scope="module")
def result():
    return compare_models.measure(
        ["dieleman2014", "jtfs_packnet"], batch=2, rounds=2, min_time=0, feature_clips=1,
        options={"jtfs_packnet": TINY_JTFS},
    )


def test_result_is_json_serialisable(result):
    assert json.loads(json.dumps(result)) == result


def test_structure(result):
    assert set(result) == {"date", "machine", "device", "settings", "notes", "models", "features"}
    assert result["device"]["type"] == "cpu" and result["device"]["name"] == result["machine"]["cpu_model"]
    assert set(result["machine"]["background_load"]) == {"cpu_s", "wall_s", "cores"}
    assert "torch" in result["machine"]["versions"]
    settings = result["settings"]
    assert (settings["batch"], settings["rounds"], settings["feature_clips"]) == (2, 2, 1)
    assert list(result["models"]) == ["dieleman2014", "jtfs_packnet"]
    for name, entry in result["models"].items():
        model = mm.build(name, **entry["options"])
        assert entry["n_samples"] == model.n_samples
        assert entry["clip_seconds"] == pytest.approx(model.n_samples / model.sample_rate)
        assert entry["loss"] == model.loss
        assert entry["rounds"] == len(entry["times_s"]) == 2
        assert entry["median_s"] > 0
        assert entry["clips_per_s"] == pytest.approx(2 / entry["median_s"])
        assert entry["audio_seconds_per_s"] == pytest.approx(entry["clips_per_s"] * entry["clip_seconds"])
        assert entry["throughput"] == entry["audio_seconds_per_s"]


def test_dieleman_trains_whole_model_on_waveforms(result):
    entry = result["models"]["dieleman2014"]
    model = mm.build("dieleman2014")
    assert entry["step"] == "model" and entry["options"] == {}
    assert entry["input_shape"] == [2, model.n_samples]
    assert entry["parameters"] == mm.count_parameters(model)


def test_jtfs_packnet_trains_backend_and_times_features_apart(result):
    entry = result["models"]["jtfs_packnet"]
    model = mm.build("jtfs_packnet", **TINY_JTFS)
    assert entry["step"] == "backend"
    assert entry["input_shape"] == [2, *model.frontend.output_shape]
    assert entry["parameters"] == mm.count_parameters(model.backend) == mm.count_parameters(model)
    features = result["features"]["jtfs_packnet"]
    assert features["device"] == "cpu" and "jtfs_tensor" in features["function"]
    assert features["input_shape"] == [1, 1024]
    assert features["output_shape"] == [1, *model.frontend.output_shape]
    assert features["options"]["J"] == 6 and features["options"]["Q"] == [8, 2]
    assert features["options"]["J_fr"] == 4  # the builder's default, not overridden
    assert features["clips_per_s"] == pytest.approx(1 / features["median_s"])


def test_format_table_lists_every_model_and_the_features(result):
    table = compare_models.format_table(result)
    assert "training step on cpu" in table
    for name in result["models"]:
        assert f"\n{name} " in table
    assert "jtfs_packnet features, NumPy jtfs_tensor" in table


def test_min_time_adds_steps():
    calls = []
    times = compare_models.time_steps(lambda: calls.append(1), rounds=2, min_time=0)
    assert len(times) == len(calls) == 2
    times = compare_models.time_steps(lambda: time.sleep(0.002), rounds=1, min_time=0.01)
    assert len(times) >= 2 and sum(times) >= 0.01


def test_main_writes_json_and_prints_table(tmp_path, capsys):
    out = tmp_path / "models.json"
    assert compare_models.main(["--models", "dieleman2014", "--batch", "2", "--rounds", "1", "--min-time", "0",
                                "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "dieleman2014" in printed and "clips/s" in printed and str(out) in printed
    data = json.loads(out.read_text())
    assert list(data["models"]) == ["dieleman2014"] and data["features"] == {}
    assert data["settings"]["batch"] == 2


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"models": ["nope"]}, "nope"),
        ({"batch": 0}, "batch=0"),
        ({"rounds": 0}, "rounds=0"),
        ({"min_time": -1.0}, "min_time"),
        ({"device": "tpu"}, "device='tpu'"),
    ],
)
def test_measure_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ParameterError, match=match):
        compare_models.measure(**{"models": ["dieleman2014"], **kwargs})


def test_main_reports_bad_arguments_as_usage_errors(capsys):
    with pytest.raises(SystemExit) as exc:
        compare_models.main(["--models", "nope"])
    assert exc.value.code == 2
    assert "nope" in capsys.readouterr().err


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal without CUDA")
def test_cuda_refused_without_a_gpu():
    with pytest.raises(ParameterError, match="no CUDA device"):
        compare_models.measure(["dieleman2014"], device="cuda")
    with pytest.raises(NotImplementedError, match="CUDA"):
        asv_models.TrainThroughput().setup("dieleman2014", "cuda")


def test_asv_module_lists_every_model():
    assert [list(p) for p in asv_models.TrainThroughput.params] == [mm.available(), ["cpu", "cuda"]]
    assert list(asv_models.TrainThroughput.param_names) == ["model", "device"]


def test_asv_setup_and_benchmarks_run_for_a_cheap_model():
    bench = asv_models.TrainThroughput()
    bench.setup("dieleman2014", "cpu")
    train = bench.train
    assert train.batch == asv_models.BATCH == 16
    assert tuple(train.inputs.shape) == (16, train.model.n_samples)
    assert train.targets.shape == (16, train.model.n_classes)
    before = [p.detach().clone() for p in train.network.parameters()]
    bench.time_train_step("dieleman2014", "cpu")
    bench.peakmem_train_step("dieleman2014", "cpu")
    assert any(not torch.equal(a, b) for a, b in zip(before, train.network.parameters()))  # Adam stepped
    assert bench.track_clips_per_second("dieleman2014", "cpu") > 0


def test_asv_batch_is_seeded_and_matches_each_loss():
    model = mm.build("dieleman2014")
    x1, y1 = asv_models.make_batch(model, 3)
    x2, y2 = asv_models.make_batch(model, 3)
    assert torch.equal(x1, x2) and torch.equal(y1, y2)
    assert x1.dtype == torch.float32 and set(np.unique(y1.numpy())) <= {0.0, 1.0}
    model.loss = "ce"
    _, labels = asv_models.make_batch(model, 3)
    assert labels.dtype == torch.int64 and labels.shape == (3,)
    step = asv_models.TrainStep("dieleman2014", batch=2, warmup=0)
    step.model.loss = "ce"
    step.loss = asv_models.loss_function("ce")
    step.targets = labels[:2]
    assert torch.isfinite(step.step())


def test_asv_jtfs_options_follow_the_builder():
    options = asv_models.jtfs_options()
    assert options == {"J": 12, "Q": (12, 2), "J_fr": 4, "Q_fr": 2, "T": None, "F": 24, "eps": 1e-10}
    assert asv_models.jtfs_options({"J": 6})["J"] == 6
