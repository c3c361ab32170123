"""The papers' training recipe, with resumable runs, a JSON-lines log and DistributedDataParallel."""

import dataclasses
import json
import math
import os
import time
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from torch.nn import functional as F
from torch.utils.data import DataLoader, DistributedSampler, RandomSampler, SequentialSampler
from tqdm.auto import tqdm

from modspec.errors import ParameterError, check_positive_int
from modspec.train.checkpoint import load_checkpoint, save_checkpoint
from modspec.train.metrics import classification_metrics, tagging_metrics

__all__ = ["TrainConfig", "evaluate", "fit", "predict_dataset"]


@dataclasses.dataclass
class TrainConfig:
    """The training recipe; the defaults are the papers' (Vahidi et al. 2021, Ma & Stern 2022).

    Attributes
    ----------
    epochs : int
        Upper bound on epochs (early stopping usually ends the run first).
    batch_size : int
        Clips per step on each process.
    lr : float
        Adam's learning rate (1e-3).
    lr_patience : int
        Epochs without validation improvement before the lr is multiplied by ``lr_factor`` (5).
    lr_factor : float
        The lr reduction (0.5: halved).
    stop_patience : int
        Epochs without validation improvement before training stops (15).
    loss : {'bce', 'ce', 'mse'} or None
        None: the model's own (``model.loss``).
    seed : int
        Seeds the data order, the crops and anything random in the model's forward;
        the model's initial weights are seeded by whoever builds it.
    workers : int
        DataLoader worker processes.
    amp : bool
        Mixed precision (float16 autocast + gradient scaling) on CUDA; ignored on the CPU.
    device : str or None
        'cpu', 'cuda' or 'cuda:N'; a bare 'cuda' (and None, when CUDA is
        available) is ``cuda:LOCAL_RANK`` (``cuda:0`` outside torchrun);
        None without CUDA is ``cpu``.
    steps_per_epoch : int or None
        Stop an epoch after this many batches (small budgets, smoke runs).
    valid_steps : int or None
        Validate on at most this many batches.
    progress : bool
        tqdm progress bars (on rank 0 only).
    """

    epochs: int = 200
    batch_size: int = 16
    lr: float = 1e-3
    lr_patience: int = 5
    lr_factor: float = 0.5
    stop_patience: int = 15
    loss: str | None = None
    seed: int = 0
    workers: int = 0
    amp: bool = True
    device: str | None = None
    steps_per_epoch: int | None = None
    valid_steps: int | None = None
    progress: bool = True

    def __post_init__(self):
        for name in ("epochs", "batch_size", "lr_patience", "stop_patience"):
            check_positive_int(name, getattr(self, name))
        for name in ("steps_per_epoch", "valid_steps"):
            check_positive_int(name, getattr(self, name), allow_none=True)
        if isinstance(self.workers, bool) or not isinstance(self.workers, int) or self.workers < 0:
            raise ParameterError(f"workers={self.workers!r} must be an integer >= 0")
        if not (isinstance(self.lr, (int, float)) and math.isfinite(self.lr) and self.lr > 0):
            raise ParameterError(f"lr={self.lr!r} must be a positive number")
        if not (isinstance(self.lr_factor, (int, float)) and 0 < self.lr_factor < 1):
            raise ParameterError(f"lr_factor={self.lr_factor!r} must be in (0, 1)")
        if self.loss not in (None, "bce", "ce", "mse"):
            raise ParameterError(f"loss={self.loss!r} must be None (the model's), 'bce', 'ce' or 'mse'")


def _loss_function(kind):
    if kind == "bce":
        return F.binary_cross_entropy_with_logits
    if kind == "ce":
        return F.cross_entropy
    return lambda logits, target: F.mse_loss(torch.sigmoid(logits), target)


def _resolve_device(device, local_rank):
    """The torch.device to train on: ``device`` (None: CUDA if available), a bare 'cuda' as ``cuda:LOCAL_RANK``.

    Raises
    ------
    ParameterError
        A device string torch does not know, or a CUDA device where CUDA is
        not available or has no such index.
    """
    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError) as err:
        raise ParameterError(f"device={device!r} is not a device torch knows: use 'cpu', 'cuda' or 'cuda:N'") from err
    if resolved.type != "cuda":
        return resolved
    if not torch.cuda.is_available():
        raise ParameterError(f"device={device!r}, but CUDA is not available here: use device='cpu'")
    if resolved.index is None:
        # One process per GPU under torchrun: the bare 'cuda' of each is its own local rank's.
        resolved = torch.device("cuda", local_rank)
    if resolved.index >= torch.cuda.device_count():
        raise ParameterError(
            f"device={device!r} resolves to {resolved}, but this machine has {torch.cuda.device_count()} CUDA device(s)"
        )
    return resolved


class _Context:
    """Where this process runs: rank and world size under torchrun (1 process otherwise), and the device."""

    def __init__(self, device):
        self.world = int(os.environ.get("WORLD_SIZE", "1"))
        local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        self.device = _resolve_device(device, local_rank)
        if self.device.type == "cuda":
            torch.cuda.set_device(self.device)
        if self.world > 1 and not dist.is_initialized():
            dist.init_process_group("nccl" if self.device.type == "cuda" else "gloo")
        self.rank = dist.get_rank() if self.world > 1 else 0
        self.main = self.rank == 0

    def barrier(self):
        if self.world > 1:
            dist.barrier()

    def sum(self, *values):
        """Sum floats over all processes."""
        t = torch.tensor(values, dtype=torch.float64)
        if self.world > 1:
            dist.all_reduce(t)
        return t.tolist()


def _loader(dataset, config, context, *, shuffle, epoch):
    from modspec.data import collate

    if hasattr(dataset, "set_epoch"):
        dataset.set_epoch(epoch)  # before the workers copy the dataset
    if context.world > 1:
        sampler = DistributedSampler(dataset, shuffle=shuffle, seed=config.seed)
        sampler.set_epoch(epoch)
    elif shuffle:
        sampler = RandomSampler(dataset, generator=torch.Generator().manual_seed(config.seed * 100003 + epoch))
    else:
        sampler = SequentialSampler(dataset)
    return DataLoader(
        dataset, batch_size=config.batch_size, sampler=sampler, num_workers=config.workers,
        collate_fn=collate, pin_memory=context.device.type == "cuda",
    )


def _batches(loader, limit):
    for i, batch in enumerate(loader):
        if limit is not None and i >= limit:
            return
        if batch is not None:  # every clip of the batch was unreadable (already reported)
            yield batch


def _train_epoch(model, loader, optimizer, scaler, loss_fn, config, context, epoch):
    model.train()
    total, count = 0.0, 0
    use_amp = scaler.is_enabled()
    bar = tqdm(
        _batches(loader, config.steps_per_epoch), total=min(len(loader), config.steps_per_epoch or len(loader)),
        desc=f"epoch {epoch + 1} train", unit="batch", leave=False, disable=not (config.progress and context.main),
    )
    for waveform, target in bar:
        waveform, target = waveform.to(context.device), target.to(context.device)
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast(context.device.type, dtype=torch.float16, enabled=use_amp):
            logits = model(waveform)
        loss = loss_fn(logits.float(), target)
        if not torch.isfinite(loss):
            raise FloatingPointError(f"training loss became {loss.item()} at epoch {epoch + 1}; lower the lr")
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
        total += loss.item() * len(waveform)
        count += len(waveform)
        bar.set_postfix(loss=f"{total / count:.4f}")
    total, count = context.sum(total, count)
    return total / max(count, 1)


@torch.no_grad()
def _valid_loss(model, loader, loss_fn, config, context):
    model.eval()
    total, count = 0.0, 0
    for waveform, target in _batches(loader, config.valid_steps):
        waveform, target = waveform.to(context.device), target.to(context.device)
        total += loss_fn(model(waveform).float(), target).item() * len(waveform)
        count += len(waveform)
    total, count = context.sum(total, count)
    if count == 0:
        raise ParameterError("the validation set gave no readable clip")
    return total / count


def _read_log(path, up_to_epoch):
    """Log lines of the epochs a checkpoint covers (a crash may have logged one epoch more)."""
    if not path.exists():
        return []
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [row for row in rows if row["epoch"] <= up_to_epoch]


def _write_log(path, rows):
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_text("".join(json.dumps(row) + "\n" for row in rows))
    os.replace(tmp, path)


def fit(model, train_set, valid_set, out, config=None, *, resume=False, meta=None):
    """Train ``model`` with the papers' recipe; keep the best weights by validation loss.

    Parameters
    ----------
    model : modspec.models.TaggingModel
        Built (and seeded) by the caller; trained in place on ``config.device``.
    train_set, valid_set : torch.utils.data.Dataset
        :mod:`modspec.data` datasets: ``(waveform, target)`` items, None for
        unreadable clips (skipped). Training crops should be ``model.n_samples`` long.
    out : str or Path
        Run folder: ``log.jsonl`` (one JSON object per epoch), ``last.pt``
        (everything needed to resume) and ``best.pt`` (the best weights and ``meta``).
    config : TrainConfig or None
        The recipe; None: the defaults.
    resume : bool
        Continue the run in ``out`` from ``last.pt``. The data order, crops
        and learning-rate schedule are functions of (seed, epoch), so a resumed
        run ends with the same weights as an uninterrupted one.
    meta : dict or None
        Plain values stored in the checkpoints (e.g. the model's name and
        options, the labels), for :mod:`modspec.cli` to rebuild the model.

    Returns
    -------
    dict
        ``best_epoch``, ``best_valid_loss``, ``epochs`` (epochs done),
        ``stopped_early`` and ``history`` (the log's rows).

    Notes
    -----
    Under ``torchrun --nproc_per_node=N`` each process trains on its share of
    every epoch (DistributedSampler) with DistributedDataParallel (NCCL on
    GPUs, gloo on the CPU); losses are averaged over processes and only rank 0
    writes files. Mixed precision (float16 autocast, gradient scaling) is used
    on CUDA when ``config.amp``.
    """
    config = config or TrainConfig()
    out = Path(out)
    context = _Context(config.device)
    last_path, best_path, log_path = out / "last.pt", out / "best.pt", out / "log.jsonl"
    if context.main:
        out.mkdir(parents=True, exist_ok=True)
    if not resume and last_path.exists():
        raise ParameterError(f"{str(out)!r} already holds a run (last.pt); resume it (resume=True, --resume) or choose another out")
    model.to(context.device)
    loss_kind = config.loss or model.loss
    loss_fn = _loss_function(loss_kind)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
        optimizer, mode="min", factor=config.lr_factor, patience=config.lr_patience
    )
    scaler = torch.amp.GradScaler("cuda", enabled=config.amp and context.device.type == "cuda")
    state = {"epoch": 0, "best_valid_loss": math.inf, "best_epoch": 0, "bad_epochs": 0}
    if resume and last_path.exists():
        checkpoint = load_checkpoint(last_path, map_location=context.device)
        model.load_state_dict(checkpoint["model"])
        optimizer.load_state_dict(checkpoint["optimizer"])
        scheduler.load_state_dict(checkpoint["scheduler"])
        scaler.load_state_dict(checkpoint["scaler"])
        state = dict(checkpoint["state"])
    history = _read_log(log_path, state["epoch"]) if context.main else []
    if context.main:
        _write_log(log_path, history)
    context.barrier()

    network = model
    if context.world > 1:
        network = torch.nn.parallel.DistributedDataParallel(
            model, device_ids=[context.device.index] if context.device.type == "cuda" else None
        )
    stopped_early = state["bad_epochs"] >= config.stop_patience
    for epoch in range(state["epoch"], config.epochs):
        if stopped_early:
            break
        torch.manual_seed(config.seed * 100003 + epoch)  # dropout etc.: a function of (seed, epoch)
        start = time.perf_counter()
        train_loader = _loader(train_set, config, context, shuffle=True, epoch=epoch)
        train_loss = _train_epoch(network, train_loader, optimizer, scaler, loss_fn, config, context, epoch)
        valid_loader = _loader(valid_set, config, context, shuffle=False, epoch=0)  # the same crops every epoch
        valid_loss = _valid_loss(network, valid_loader, loss_fn, config, context)
        lr = optimizer.param_groups[0]["lr"]
        scheduler.step(valid_loss)
        improved = valid_loss < state["best_valid_loss"]
        if improved:
            state.update(best_valid_loss=valid_loss, best_epoch=epoch + 1, bad_epochs=0)
        else:
            state["bad_epochs"] += 1
        state["epoch"] = epoch + 1
        stopped_early = state["bad_epochs"] >= config.stop_patience
        row = {
            "epoch": epoch + 1, "train_loss": train_loss, "valid_loss": valid_loss, "lr": lr,
            "best_valid_loss": state["best_valid_loss"], "improved": improved,
            "stopped_early": stopped_early, "seconds": round(time.perf_counter() - start, 3),
        }
        history.append(row)
        if context.main:
            with open(log_path, "a") as f:  # the log first: a crash before the checkpoint re-runs this epoch
                f.write(json.dumps(row) + "\n")
            if improved:
                save_checkpoint(best_path, {"model": model.state_dict(), "meta": meta or {}, "epoch": epoch + 1,
                                            "valid_loss": valid_loss, "loss": loss_kind})
            save_checkpoint(last_path, {
                "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(), "scaler": scaler.state_dict(), "state": dict(state),
                "config": dataclasses.asdict(config), "meta": meta or {},
            })
            if config.progress:
                tqdm.write(f"epoch {epoch + 1}: train {train_loss:.4f}  valid {valid_loss:.4f}  lr {lr:.2e}"
                           + ("  (best)" if improved else ""))
        context.barrier()
    return {
        "best_epoch": state["best_epoch"], "best_valid_loss": state["best_valid_loss"],
        "epochs": state["epoch"], "stopped_early": stopped_early, "history": history,
    }


@torch.no_grad()
def predict_dataset(model, dataset, *, hop=None, device=None, progress=True):
    """Whole-clip predictions: the window predictions of each clip averaged (``model.predict_clip``).

    Parameters
    ----------
    model : modspec.models.TaggingModel
    dataset : torch.utils.data.Dataset
        Items ``(waveform, target)`` of whole clips (``crop=None``); None items
        (unreadable files, already reported by the dataset) are skipped.
    hop : int or None
        Window step in samples; None: consecutive windows.
    device : str, torch.device or None
        None: the model's device.
    progress : bool
        A tqdm progress bar.

    Returns
    -------
    index : np.ndarray of int, shape (n_read,)
        Dataset indices of the clips read.
    y_true : np.ndarray, shape (n_read, n_labels) or (n_read,)
        Targets.
    y_score : np.ndarray, shape (n_read, n_classes)
        Averaged probabilities.
    """
    device = torch.device(device) if device is not None else next(model.parameters()).device
    model.to(device).eval()
    index, truths, scores = [], [], []
    items = tqdm(range(len(dataset)), desc="evaluate", unit="clip", leave=False, disable=not progress)
    for i in items:  # one clip at a time: clips differ in length
        item = dataset[i]
        if item is None:
            continue
        waveform, target = item
        scores.append(model.predict_clip(waveform.to(device), hop=hop).float().cpu().numpy())
        truths.append(np.asarray(target))
        index.append(i)
    if not index:
        raise ParameterError("the dataset gave no readable clip to evaluate")
    return np.array(index), np.stack(truths), np.stack(scores)


def evaluate(model, dataset, *, hop=None, device=None, progress=True):
    """Score whole-clip predictions: macro and per-tag ROC-AUC / PR-AUC (tagging) or accuracy (classification).

    Parameters
    ----------
    model : modspec.models.TaggingModel
    dataset : torch.utils.data.Dataset
        A :mod:`modspec.data` dataset of whole clips, with ``task`` and ``labels``.

    Returns
    -------
    dict
        :func:`modspec.train.metrics.tagging_metrics` or
        :func:`~modspec.train.metrics.classification_metrics`.
    """
    _, y_true, y_score = predict_dataset(model, dataset, hop=hop, device=device, progress=progress)
    labels = getattr(dataset, "labels", None)
    if getattr(dataset, "task", "tagging") == "classification":
        return classification_metrics(y_true, y_score, labels)
    return tagging_metrics(y_true, y_score, labels)
