"""Checkpoints written atomically (write, flush, rename) and read with ``weights_only=True``."""

import os
from pathlib import Path

import torch

from modspec.errors import ParameterError

__all__ = ["load_checkpoint", "save_checkpoint"]


def save_checkpoint(path, state):
    """Write ``state`` to ``path`` so that a reader sees the old file or the new one, never half of one.

    Parameters
    ----------
    path : str or Path
        Destination; its folder must exist.
    state : dict
        Tensors, state dicts and plain Python values (what ``torch.load(weights_only=True)`` reads back).

    Notes
    -----
    The bytes go to a temporary file in the same folder, are flushed to disk
    (fsync), and the file is renamed over ``path`` (``os.replace`` is atomic on
    POSIX and Windows), so a crash mid-write leaves the previous checkpoint.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        with open(tmp, "wb") as f:
            torch.save(state, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def load_checkpoint(path, *, map_location="cpu"):
    """Read a checkpoint written by :func:`save_checkpoint` (tensors and plain values only: ``weights_only=True``).

    Raises
    ------
    ParameterError
        If ``path`` does not exist or is not a readable checkpoint.
    """
    path = Path(path)
    if not path.is_file():
        raise ParameterError(f"checkpoint {str(path)!r} does not exist")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:  # pickle, zip and weights-only errors all mean: not a usable checkpoint
        raise ParameterError(f"checkpoint {str(path)!r} cannot be read ({type(err).__name__}: {err})") from err
