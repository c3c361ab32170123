"""Tagging and keyword-spotting metrics with scikit-learn: macro ROC-AUC / PR-AUC, per-tag tables, accuracy."""

import numpy as np
from sklearn.metrics import accuracy_score, average_precision_score, roc_auc_score

from modspec.errors import ParameterError

__all__ = ["classification_metrics", "format_metrics", "tagging_metrics"]


def _labels(labels, n):
    labels = [f"class_{i}" for i in range(n)] if labels is None else list(labels)
    if len(labels) != n:
        raise ParameterError(f"labels has {len(labels)} names for {n} columns")
    return labels


def tagging_metrics(y_true, y_score, labels=None):
    """Macro ROC-AUC and PR-AUC over tags, and the per-tag table.

    Parameters
    ----------
    y_true : array_like, shape (n_clips, n_tags)
        0/1 ground truth.
    y_score : array_like, shape (n_clips, n_tags)
        Predicted probabilities (or any scores ranking the clips).
    labels : list of str or None
        Tag names, one per column.

    Returns
    -------
    dict
        ``roc_auc`` and ``pr_auc``: macro averages (unweighted means over the
        tags for which they are defined); ``per_tag``: a list of
        ``{'tag', 'n_positive', 'roc_auc', 'pr_auc'}``; ``undefined``: tags
        left out of the averages because the split has no positive (or no
        negative) clip for them, with the reason. ROC-AUC is scikit-learn's
        ``roc_auc_score``, PR-AUC its ``average_precision_score``.
    """
    y_true = np.asarray(y_true)
    y_score = np.asarray(y_score, dtype=np.float64)
    if y_true.ndim != 2 or y_true.shape != y_score.shape:
        raise ParameterError(
            f"y_true {y_true.shape} and y_score {y_score.shape} must both be (n_clips, n_tags)"
        )
    if not np.all(np.isfinite(y_score)):
        raise ParameterError("y_score has NaN or infinite values")
    labels = _labels(labels, y_true.shape[1])
    per_tag, undefined = [], []
    for k, tag in enumerate(labels):
        truth = y_true[:, k] > 0.5
        n_positive = int(truth.sum())
        row = {"tag": tag, "n_positive": n_positive, "roc_auc": None, "pr_auc": None}
        if n_positive == 0 or n_positive == len(truth):
            undefined.append({"tag": tag, "reason": "no positive clip" if n_positive == 0 else "no negative clip"})
        else:
            row["roc_auc"] = float(roc_auc_score(truth, y_score[:, k]))
            row["pr_auc"] = float(average_precision_score(truth, y_score[:, k]))
        per_tag.append(row)
    defined = [row for row in per_tag if row["roc_auc"] is not None]
    return {
        "task": "tagging",
        "n_clips": int(y_true.shape[0]),
        "roc_auc": float(np.mean([r["roc_auc"] for r in defined])) if defined else None,
        "pr_auc": float(np.mean([r["pr_auc"] for r in defined])) if defined else None,
        "per_tag": per_tag,
        "undefined": undefined,
    }


def classification_metrics(y_true, y_score, labels=None):
    """Accuracy of the top class, overall and per class (keyword spotting).

    Parameters
    ----------
    y_true : array_like of int, shape (n_clips,)
        Class indices.
    y_score : array_like, shape (n_clips, n_classes)
        Class probabilities or logits.
    labels : list of str or None
        Class names.

    Returns
    -------
    dict
        ``accuracy`` and ``per_class``: ``{'label', 'n', 'accuracy'}`` rows
        (accuracy None for classes absent from the split, which are also listed in ``undefined``).
    """
    y_true = np.asarray(y_true)
    y_score = np.asarray(y_score, dtype=np.float64)
    if y_true.ndim != 1 or y_score.ndim != 2 or y_score.shape[0] != y_true.shape[0]:
        raise ParameterError(f"y_true {y_true.shape} must be (n_clips,) and y_score {y_score.shape} (n_clips, n_classes)")
    labels = _labels(labels, y_score.shape[1])
    predicted = y_score.argmax(axis=1)
    per_class, undefined = [], []
    for k, label in enumerate(labels):
        mask = y_true == k
        n = int(mask.sum())
        per_class.append({"label": label, "n": n, "accuracy": float(np.mean(predicted[mask] == k)) if n else None})
        if not n:
            undefined.append({"tag": label, "reason": "no clip of this class"})
    return {
        "task": "classification",
        "n_clips": int(y_true.shape[0]),
        "accuracy": float(accuracy_score(y_true, predicted)),
        "per_class": per_class,
        "undefined": undefined,
    }


def format_metrics(metrics, name=None):
    """A plain-text table of :func:`tagging_metrics` or :func:`classification_metrics` output."""
    title = f"{name}: " if name else ""
    lines = []
    if metrics["task"] == "tagging":
        fmt = lambda v: "   n/a" if v is None else f"{v:6.3f}"
        lines.append(f"{title}ROC-AUC {fmt(metrics['roc_auc'])}  PR-AUC {fmt(metrics['pr_auc'])}  "
                     f"({metrics['n_clips']} clips)")
        lines.append(f"  {'tag':<20} {'n+':>5} {'ROC-AUC':>8} {'PR-AUC':>8}")
        for row in metrics["per_tag"]:
            lines.append(f"  {row['tag']:<20} {row['n_positive']:>5} {fmt(row['roc_auc']):>8} {fmt(row['pr_auc']):>8}")
    else:
        lines.append(f"{title}accuracy {metrics['accuracy']:.3f} ({metrics['n_clips']} clips)")
        for row in metrics["per_class"]:
            acc = "n/a" if row["accuracy"] is None else f"{row['accuracy']:.3f}"
            lines.append(f"  {row['label']:<20} {row['n']:>5} {acc:>8}")
    for row in metrics["undefined"]:
        lines.append(f"  not scored: {row['tag']} ({row['reason']})")
    return "\n".join(lines)
