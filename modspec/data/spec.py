"""Datasets named by the ``--data`` argument of the ``modspec`` command."""

from modspec.errors import ParameterError

__all__ = ["DATA_SPECS", "open_data"]

#: The forms ``--data`` takes, for help texts and errors.
DATA_SPECS = "synthetic[:N_TRAIN] | mtat:ROOT | speechcommands:ROOT | folder:ROOT,CSV"

# Clips per split of the synthetic set, unless ``synthetic:N`` names the training size.
_SYNTHETIC_CLIPS = {"train": 200, "valid": 50, "test": 100}


def open_data(spec, split, *, sample_rate, crop, seed=0, duration=6.0):
    """Open the dataset ``spec`` names, for one split.

    Parameters
    ----------
    spec : str
        ``synthetic`` (or ``synthetic:N`` for N training clips, a quarter of
        that for validation and half for test), ``mtat:ROOT``,
        ``speechcommands:ROOT`` or ``folder:ROOT,CSV`` (the CSV's ``split``
        column must then hold ``train`` / ``valid`` / ``test``).
    split : {'train', 'valid', 'test'}
    sample_rate : int
        Rate in Hz the audio is resampled to (the model's).
    crop : int or None
        Random crops of this many samples (training), or whole clips (None).
    seed : int
        Seeds crops and the synthetic clips.
    duration : float
        Length in seconds of synthetic clips.

    Returns
    -------
    modspec.data.AudioDataset
    """
    from modspec.data import MTAT, SpeechCommands, Synthetic, TagFolder

    if not isinstance(spec, str) or not spec:
        raise ParameterError(f"data={spec!r} must be one of: {DATA_SPECS}")
    kind, _, where = spec.partition(":")
    common = {"sample_rate": sample_rate, "crop": crop, "seed": seed}
    if kind == "synthetic":
        if where:
            try:
                n_train = int(where)
            except ValueError:
                raise ParameterError(f"data={spec!r}: N in synthetic:N must be an integer") from None
            if n_train < 4:
                raise ParameterError(f"data={spec!r}: synthetic:N needs N >= 4 training clips")
            n_clips = {"train": n_train, "valid": max(n_train // 4, 1), "test": max(n_train // 2, 1)}[split]
        else:
            n_clips = _SYNTHETIC_CLIPS[split]
        return Synthetic(n_clips, split=split, duration=duration, **common)
    if not where:
        raise ParameterError(f"data={spec!r} names no folder; use one of: {DATA_SPECS}")
    if kind == "mtat":
        return MTAT(where, split, **common)
    if kind == "speechcommands":
        return SpeechCommands(where, split, **common)
    if kind == "folder":
        root, comma, csv = where.partition(",")
        if not comma:
            raise ParameterError(f"data={spec!r}: folder data is folder:ROOT,CSV")
        return TagFolder(root, csv, split=split, **common)
    raise ParameterError(f"data={spec!r}: unknown kind {kind!r}; use one of: {DATA_SPECS}")
