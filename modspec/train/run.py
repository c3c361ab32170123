"""What the ``modspec train / evaluate / predict`` commands do, callable from Python too."""

import json
import os
from pathlib import Path

import numpy as np
import torch

from modspec.errors import ParameterError
from modspec.train.checkpoint import load_checkpoint
from modspec.train.metrics import format_metrics
from modspec.train.trainer import TrainConfig, evaluate, fit

__all__ = ["evaluate_checkpoint", "load_model", "predict_files", "train_model", "write_json"]


def write_json(path, value):
    """Write ``value`` as JSON to ``path`` atomically (temporary file, then rename)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_text(json.dumps(value, indent=2) + "\n")
    os.replace(tmp, path)


def train_model(name, data, out, *, options=None, config=None, resume=False, sample_rate=16000, duration=6.0):
    """Build model ``name``, train it on ``data`` and keep its best weights in ``out/best.pt``.

    Parameters
    ----------
    name : str
        A model of :func:`modspec.models.available`.
    data : str
        A dataset spec of :func:`modspec.data.open_data` (``synthetic``, ``mtat:ROOT``, …).
    out : str or Path
        Run folder (see :func:`modspec.train.fit`).
    options : dict or None
        The model's options (plain values: they are stored in the checkpoint).
    config : TrainConfig or None
        The recipe; its ``seed`` also seeds the model's initial weights.
    resume : bool
        Continue an interrupted run in ``out``.
    sample_rate : int
        The model's rate in Hz; audio is resampled to it.
    duration : float
        Length of synthetic clips in seconds.

    Returns
    -------
    model : modspec.models.TaggingModel
        With its best weights loaded.
    result : dict
        :func:`modspec.train.fit`'s summary.
    """
    from modspec.data import open_data
    from modspec.models import build
    from modspec.models import option_names

    config = config or TrainConfig()
    options = dict(options or {})
    probe = open_data(data, "train", sample_rate=sample_rate, crop=None, seed=config.seed, duration=duration)
    task = probe.task
    if task == "classification" and "loss" in option_names(name):
        options.setdefault("loss", "ce")
    torch.manual_seed(config.seed)  # the initial weights
    model = build(name, n_classes=len(probe.labels), sample_rate=sample_rate, **options)
    if task == "classification":
        model.loss = "ce"  # one label per clip, whatever the paper's default
    crop = model.n_samples
    train_set = open_data(data, "train", sample_rate=sample_rate, crop=crop, seed=config.seed, duration=duration)
    valid_set = open_data(data, "valid", sample_rate=sample_rate, crop=crop, seed=config.seed, duration=duration)
    meta = {
        "model": name, "options": options, "n_classes": len(probe.labels), "sample_rate": sample_rate,
        "labels": list(probe.labels), "task": task, "loss": model.loss, "data": data, "duration": duration,
    }
    result = fit(model, train_set, valid_set, out, config, resume=resume, meta=meta)
    if (Path(out) / "best.pt").exists():
        model.load_state_dict(load_checkpoint(Path(out) / "best.pt")["model"])
    return model, result


def load_model(checkpoint, *, device="cpu"):
    """Rebuild a trained model from a checkpoint written by :func:`train_model` (or its run folder).

    Returns
    -------
    model : modspec.models.TaggingModel
        In eval mode, with the checkpoint's weights.
    meta : dict
        What the run stored: model name and options, labels, task, data, sample rate.
    """
    from modspec.models import build

    path = Path(checkpoint)
    if path.is_dir():
        path = path / "best.pt"
    state = load_checkpoint(path, map_location=device)
    meta = state.get("meta") or {}
    if "model" not in meta or "labels" not in meta:
        raise ParameterError(f"checkpoint {str(path)!r} does not say which model it holds (no meta); "
                             "it was not written by modspec train")
    model = build(meta["model"], n_classes=meta["n_classes"], sample_rate=meta["sample_rate"], **meta["options"])
    model.loss = meta.get("loss", model.loss)
    model.load_state_dict(state["model"])
    return model.to(device).eval(), meta


def evaluate_checkpoint(checkpoint, data=None, *, split="test", json_path=None, device="cpu", progress=True):
    """Score a trained model on whole clips of ``data``'s ``split``; print and optionally write the metrics.

    Parameters
    ----------
    checkpoint : str or Path
        A ``best.pt`` / ``last.pt`` or a run folder.
    data : str or None
        Dataset spec; None: the one the model was trained on.
    split : {'train', 'valid', 'test'}
    json_path : str, Path or None
        Write the metrics there as JSON.

    Returns
    -------
    dict
        :func:`modspec.train.evaluate`'s metrics, plus the checkpoint's ``meta``.
    """
    from modspec.data import open_data

    model, meta = load_model(checkpoint, device=device)
    data = data or meta["data"]
    dataset = open_data(data, split, sample_rate=meta["sample_rate"], crop=None, duration=meta.get("duration", 6.0))
    if list(dataset.labels) != list(meta["labels"]):
        raise ParameterError(f"data={data!r} has labels {dataset.labels[:5]}… but the model was trained on "
                             f"{meta['labels'][:5]}…; evaluate it on data with the same labels")
    metrics = evaluate(model, dataset, device=device, progress=progress)
    metrics.update(model=meta["model"], options=meta["options"], data=data, split=split)
    print(format_metrics(metrics, name=f"{meta['model']} on {data} ({split})"))
    if json_path:
        write_json(json_path, metrics)
    return metrics


def predict_files(checkpoint, files, *, top=5, device="cpu"):
    """Top labels of each audio file with their probabilities (window predictions averaged over the file).

    Returns
    -------
    results : list of dict
        ``{'path', 'top': [(label, probability), …]}`` for each readable file,
        ``{'path', 'error'}`` for the others (which are reported and skipped).
    """
    from modspec import io

    model, meta = load_model(checkpoint, device=device)
    results = []
    for path in files:
        try:
            y, _ = io.load(path, sr=meta["sample_rate"])
        except ParameterError as err:
            results.append({"path": str(path), "error": str(err)})
            continue
        probs = model.predict_clip(torch.from_numpy(np.ascontiguousarray(y)).to(device)).cpu().numpy()
        order = np.argsort(probs)[::-1][:top]
        results.append({"path": str(path), "top": [(meta["labels"][k], float(probs[k])) for k in order]})
    return results
