"""modspec.train: metrics by hand, atomic checkpoints, the recipe's schedule, resume, DDP on 2 CPU processes."""

import json
import os
import socket

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("sklearn")

from modspec.errors import ParameterError  # noqa: E402
from modspec.models import TaggingModel  # noqa: E402
from modspec.train import (  # noqa: E402
    TrainConfig,
    classification_metrics,
    evaluate,
    fit,
    format_metrics,
    load_checkpoint,
    save_checkpoint,
    tagging_metrics,
)
from modspec.train import trainer as trainer_module  # noqa: E402


class ToyTags(torch.utils.data.Dataset):
    """Clips whose tag k is on when the clip's mean in the k-th quarter is positive; clip 3 is 'corrupt'."""

    task = "tagging"
    labels = ["a", "b"]

    def __init__(self, n=24, length=16, seed=0, corrupt=()):
        rng = np.random.default_rng(seed)
        self.x = rng.standard_normal((n, length)).astype(np.float32)
        self.y = np.stack([self.x[:, :4].mean(1) > 0, self.x[:, 4:8].mean(1) > 0], axis=1).astype(np.float32)
        self.corrupt = set(corrupt)
        self.epochs = []

    def set_epoch(self, epoch):
        self.epochs.append(epoch)

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        if i in self.corrupt:
            return None
        return torch.from_numpy(self.x[i]), torch.from_numpy(self.y[i])


def toy_model(seed=0, length=16):
    torch.manual_seed(seed)
    backend = torch.nn.Sequential(torch.nn.Linear(length, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))
    return TaggingModel(torch.nn.Identity(), backend, sample_rate=16, n_samples=length, n_classes=2)


def quiet(**kwargs):
    return TrainConfig(progress=False, batch_size=4, **kwargs)


# --- metrics -----------------------------------------------------------------------------------

def test_tagging_metrics_by_hand():
    y_true = np.array([[1, 0, 0], [0, 1, 0], [1, 1, 0], [0, 0, 0]])
    y_score = np.array([[0.9, 0.2, 0.1], [0.1, 0.8, 0.3], [0.4, 0.3, 0.2], [0.5, 0.9, 0.4]])
    m = tagging_metrics(y_true, y_score, ["a", "b", "never"])
    # tag a: positives 0.9, 0.4 vs negatives 0.1, 0.5 -> 3 of 4 pairs ranked right
    assert m["per_tag"][0]["roc_auc"] == pytest.approx(0.75)
    # precision at the positives' ranks: 0.9 (1/1), 0.4 (2/3) -> AP = (1 + 2/3) / 2
    assert m["per_tag"][0]["pr_auc"] == pytest.approx((1 + 2 / 3) / 2)
    # tag b: positives 0.8, 0.3 vs negatives 0.2, 0.9 -> 2 of 4 pairs
    assert m["per_tag"][1]["roc_auc"] == pytest.approx(0.5)
    assert m["roc_auc"] == pytest.approx((0.75 + 0.5) / 2)  # the absent tag is left out, not a crash
    assert m["undefined"] == [{"tag": "never", "reason": "no positive clip"}]
    assert m["per_tag"][2]["roc_auc"] is None
    assert "not scored: never (no positive clip)" in format_metrics(m)


def test_classification_metrics_by_hand():
    m = classification_metrics([0, 1, 1, 2], np.array([[2, 1, 0], [0, 3, 1], [5, 1, 0], [0, 0, 1.0]]), ["x", "y", "z"])
    assert m["accuracy"] == pytest.approx(0.75)
    assert [row["accuracy"] for row in m["per_class"]] == [1.0, 0.5, 1.0]
    m = classification_metrics([0, 0], np.array([[1.0, 0.0], [1.0, 0.0]]), ["x", "y"])
    assert m["undefined"] == [{"tag": "y", "reason": "no clip of this class"}]


def test_metrics_reject_bad_shapes():
    with pytest.raises(ParameterError, match="n_clips, n_tags"):
        tagging_metrics(np.zeros((3, 2)), np.zeros((3, 3)))
    with pytest.raises(ParameterError, match="NaN"):
        tagging_metrics(np.zeros((2, 1)), np.array([[np.nan], [0.0]]))


# --- checkpoints -------------------------------------------------------------------------------

def test_checkpoint_round_trip(tmp_path):
    path = tmp_path / "c.pt"
    save_checkpoint(path, {"w": torch.arange(3.0), "meta": {"model": "x", "labels": ["a"]}})
    state = load_checkpoint(path)
    assert torch.equal(state["w"], torch.arange(3.0)) and state["meta"]["labels"] == ["a"]


def test_checkpoint_crash_keeps_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "c.pt"
    save_checkpoint(path, {"w": torch.zeros(2)})

    def crash(obj, f):
        f.write(b"half a checkpoint")
        raise KeyboardInterrupt

    monkeypatch.setattr(torch, "save", crash)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(path, {"w": torch.ones(2)})
    monkeypatch.undo()
    assert torch.equal(load_checkpoint(path)["w"], torch.zeros(2))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.pt"]  # no temporary left behind


def test_bad_checkpoints(tmp_path):
    with pytest.raises(ParameterError, match="does not exist"):
        load_checkpoint(tmp_path / "missing.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ParameterError, match="cannot be read"):
        load_checkpoint(tmp_path / "junk.pt")


def test_checkpoint_refuses_arbitrary_objects(tmp_path):
    path = tmp_path / "evil.pt"
    torch.save({"f": np.random.default_rng(0)}, path)  # a pickled object, not weights
    with pytest.raises(ParameterError, match="cannot be read"):
        load_checkpoint(path)


# --- the recipe --------------------------------------------------------------------------------

def test_config_checks():
    with pytest.raises(ParameterError, match="batch_size"):
        TrainConfig(batch_size=0)
    with pytest.raises(ParameterError, match="loss='l1'"):
        TrainConfig(loss="l1")
    with pytest.raises(ParameterError, match="lr_factor"):
        TrainConfig(lr_factor=2.0)


def test_fit_learns_logs_and_keeps_the_best(tmp_path):
    model = toy_model()
    data = ToyTags(corrupt={3})
    result = fit(model, data, ToyTags(seed=1), tmp_path, quiet(epochs=6, lr=1e-2), meta={"model": "toy"})
    rows = [json.loads(line) for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == list(range(1, 7))
    assert rows[-1]["train_loss"] < rows[0]["train_loss"]
    assert data.epochs[:6] == [0, 1, 2, 3, 4, 5]  # crops change with the epoch
    best = load_checkpoint(tmp_path / "best.pt")
    assert best["epoch"] == result["best_epoch"] == min(rows, key=lambda r: r["valid_loss"])["epoch"]
    assert best["meta"] == {"model": "toy"}
    metrics = evaluate(model, ToyTags(seed=2), progress=False)
    assert metrics["roc_auc"] > 0.7  # a linear rule: learnable in a few epochs


def test_fit_refuses_to_overwrite_a_run(tmp_path):
    fit(toy_model(), ToyTags(), ToyTags(seed=1), tmp_path, quiet(epochs=1))
    with pytest.raises(ParameterError, match="already holds a run"):
        fit(toy_model(), ToyTags(), ToyTags(seed=1), tmp_path, quiet(epochs=1))


def test_lr_halving_and_early_stopping(tmp_path, monkeypatch):
    losses = iter([1.0, 0.9, 0.95, 0.96, 0.97, 0.98, 0.99])
    monkeypatch.setattr(trainer_module, "_valid_loss", lambda *args: next(losses))
    result = fit(toy_model(), ToyTags(), ToyTags(seed=1), tmp_path,
                 quiet(epochs=20, lr=1e-3, lr_patience=1, stop_patience=3))
    rows = result["history"]
    assert result["epochs"] == 5 and result["stopped_early"] and result["best_epoch"] == 2
    # the lr used in each epoch: halved once two epochs (> patience 1) passed without improvement
    assert [r["lr"] for r in rows] == pytest.approx([1e-3, 1e-3, 1e-3, 1e-3, 5e-4])


def test_resume_reaches_the_same_weights(tmp_path):
    straight = toy_model()
    fit(straight, ToyTags(), ToyTags(seed=1), tmp_path / "a", quiet(epochs=4, lr=1e-2))

    interrupted = toy_model()
    fit(interrupted, ToyTags(), ToyTags(seed=1), tmp_path / "b", quiet(epochs=2, lr=1e-2))
    # a crash after logging epoch 3 but before its checkpoint: the log has one line too many
    with open(tmp_path / "b" / "log.jsonl", "a") as f:
        f.write(json.dumps({"epoch": 3, "train_loss": 0.0}) + "\n")
    resumed = toy_model(seed=123)  # other initial weights: the checkpoint must replace them
    result = fit(resumed, ToyTags(), ToyTags(seed=1), tmp_path / "b", quiet(epochs=4, lr=1e-2), resume=True)
    for (name, a), b in zip(straight.state_dict().items(), resumed.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=0, atol=0, msg=name)
    assert [r["epoch"] for r in result["history"]] == [1, 2, 3, 4]
    log_a = [json.loads(x)["train_loss"] for x in (tmp_path / "a" / "log.jsonl").read_text().splitlines()]
    log_b = [json.loads(x)["train_loss"] for x in (tmp_path / "b" / "log.jsonl").read_text().splitlines()]
    assert log_a == log_b


# --- distributed -------------------------------------------------------------------------------

def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ddp_worker(rank, world, port, out):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), WORLD_SIZE=str(world),
                      RANK=str(rank), LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    model = toy_model(seed=rank)  # different initial weights: DDP must broadcast rank 0's
    fit(model, ToyTags(), ToyTags(seed=1), out, quiet(epochs=2, lr=1e-2, device="cpu"))
    torch.save(model.state_dict(), os.path.join(out, f"rank{rank}.pt"))
    torch.distributed.destroy_process_group()


def test_ddp_two_cpu_processes_end_with_identical_weights(tmp_path):
    torch.multiprocessing.spawn(_ddp_worker, args=(2, _free_port(), str(tmp_path)), nprocs=2, join=True)
    w0 = torch.load(tmp_path / "rank0.pt", weights_only=True)
    w1 = torch.load(tmp_path / "rank1.pt", weights_only=True)
    initial = toy_model(seed=0).state_dict()
    for name in w0:
        torch.testing.assert_close(w0[name], w1[name], rtol=0, atol=0, msg=name)
    assert any(not torch.equal(w0[name], initial[name]) for name in w0)  # it did train
    rows = (tmp_path / "log.jsonl").read_text().splitlines()
    assert len(rows) == 2  # rank 0 alone writes


def test_device_resolution_without_cuda(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert trainer_module._resolve_device(None, 0) == torch.device("cpu")
    assert trainer_module._resolve_device("cpu", 0) == torch.device("cpu")
    with pytest.raises(ParameterError, match="device='cuda', but CUDA is not available here"):
        trainer_module._resolve_device("cuda", 0)
    with pytest.raises(ParameterError, match="device='gpu0' is not a device torch knows"):
        trainer_module._resolve_device("gpu0", 0)


def test_bare_cuda_is_the_local_ranks_gpu(monkeypatch):
    # torch.cuda.set_device refuses a CUDA device without an index: a bare 'cuda' must get one.
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert trainer_module._resolve_device("cuda", 0) == torch.device("cuda", 0)
    assert trainer_module._resolve_device(None, 1) == torch.device("cuda", 1)
    assert trainer_module._resolve_device("cuda:1", 0) == torch.device("cuda", 1)
    with pytest.raises(ParameterError, match="resolves to cuda:2, but this machine has 2 CUDA device"):
        trainer_module._resolve_device("cuda", 2)
