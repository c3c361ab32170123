"""Training and evaluation: the papers' recipe, metrics, atomic checkpoints, distributed training.

:func:`fit` trains a :class:`modspec.models.TaggingModel` with the recipe the
papers share (Adam, lr 1e-3, lr halved after 5 epochs without validation
improvement, early stopping after 15, best model by validation loss), writes a
JSON-lines log of every epoch and atomic checkpoints, resumes interrupted runs
to the same result, and runs under ``torchrun`` with DistributedDataParallel.
:func:`evaluate` averages window predictions over whole clips and scores them
with scikit-learn (:mod:`modspec.train.metrics`).

Needs the ``train`` extra (torch, scikit-learn, tqdm).
"""

try:
    import sklearn  # noqa: F401
    import torch  # noqa: F401
    import tqdm  # noqa: F401
except ImportError as err:  # pragma: no cover - exercised with the extra missing
    raise ImportError(f"modspec.train needs the 'train' extra ({err.name} is missing): pip install 'modspec[train]'") from err

from modspec.train.checkpoint import load_checkpoint, save_checkpoint
from modspec.train.metrics import classification_metrics, format_metrics, tagging_metrics
from modspec.train.trainer import TrainConfig, evaluate, fit, predict_dataset

__all__ = [
    "TrainConfig",
    "classification_metrics",
    "evaluate",
    "fit",
    "format_metrics",
    "load_checkpoint",
    "predict_dataset",
    "save_checkpoint",
    "tagging_metrics",
]
