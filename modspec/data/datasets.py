"""Audio datasets on disk: MagnaTagATune, Speech Commands and any folder with a CSV.

Every dataset here derives from :class:`AudioDataset`, which holds what they
share: the target sampling rate, random crops that are reproducible per
``(seed, index, epoch)``, reading a file with :func:`modspec.io.load` (an
unreadable file gives ``None`` and one warning) and :func:`collate` to batch
the items while skipping those ``None``.
"""

import csv
import numbers
import os
import warnings
from collections.abc import Mapping

import numpy as np
import torch

from modspec.errors import ParameterError, check_choice
from modspec.io import load

__all__ = ["MTAT", "AudioDataset", "SpeechCommands", "TagFolder", "UnreadableAudioWarning", "collate"]


class UnreadableAudioWarning(UserWarning):
    """A dataset file could not be decoded; its item is ``None`` and :func:`collate` drops it.

    Each dataset object warns once per file. Turn the warning into an error
    with ``warnings.filterwarnings("error", category=UnreadableAudioWarning)``.
    """


# --------------------------------------------------------------------------- checks


def _check_int(name, value, *, minimum, allowed):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ParameterError(f"{name}={value!r} is not allowed; use {allowed}")
    return int(value)


def _check_crop(crop):
    if crop is None:
        return None
    return _check_int("crop", crop, minimum=1, allowed="None (whole clips) or a positive number of samples")


def _check_path(name, value, kind):
    """``value`` as a path to an existing ``kind`` ('folder' or 'file'), else a ParameterError."""
    exists = os.path.isdir if kind == "folder" else os.path.isfile
    try:
        path = os.fspath(value)
    except TypeError:
        raise ParameterError(f"{name}={value!r} must be a path to a {kind}") from None
    if not exists(path):
        raise ParameterError(f"{name}={value!r} is not an existing {kind}")
    return path


def _read_table(path, *, delimiter):
    """Rows of a delimited text file (quoted or bare fields), blank lines dropped."""
    with open(path, newline="", encoding="utf-8") as handle:
        rows = [row for row in csv.reader(handle, delimiter=delimiter) if any(field.strip() for field in row)]
    if not rows:
        raise ParameterError(f"the table {path!r} is empty; it needs a header line")
    return [[field.strip() for field in row] for row in rows]


def _binary_matrix(rows, columns, path, first_line):
    """The 0/1 entries ``rows[i][columns[j]]`` as an int8 array (n_rows, n_columns)."""
    table = np.array(rows, dtype=str).reshape(len(rows), -1)[:, columns]
    ones = table == "1"
    other = ~(ones | (table == "0"))
    if other.any():  # spellings such as "1.0", or bad values
        texts, codes = np.unique(table[other], return_inverse=True)
        values = np.zeros(len(texts), dtype=bool)
        for k, text in enumerate(texts):
            try:
                number = float(text)
            except ValueError:
                number = None
            if number not in (0.0, 1.0):
                i, j = np.argwhere(table == text)[0]
                raise ParameterError(
                    f"{path!r}, line {first_line + i}, column {columns[j] + 1}: tag value {text!r} "
                    f"is not allowed; tag columns hold 0 or 1"
                )
            values[k] = number == 1.0
        ones[other] = values[codes.ravel()]
    return ones.astype(np.int8)


def _check_row_lengths(rows, n_fields, path):
    for i, row in enumerate(rows):
        if len(row) != n_fields:
            raise ParameterError(
                f"{path!r}, line {i + 2}: {len(row)} fields where the header has {n_fields}; "
                f"check the delimiter and quoting"
            )


# ----------------------------------------------------------------------------- base


class AudioDataset(torch.utils.data.Dataset):
    """Base of the modspec datasets: crops, epochs, unreadable files, targets.

    Subclasses fill ``ids`` (one string per item), ``labels`` and ``task``, and
    implement ``_waveform(index)`` (float32 NumPy samples at ``sample_rate``, or
    ``None``) and ``_target(index)``.

    Parameters
    ----------
    sample_rate : int > 0
        Sampling rate in Hz of the returned waveforms; files at another rate are
        resampled (:func:`modspec.io.resample`).
    crop : int > 0 or None
        ``None`` returns whole clips; ``n`` returns ``n`` samples from a random
        offset, zero-padded at the end when the clip is shorter.
    seed : int >= 0
        Seed of the crop offsets (and of any other per-item randomness).

    Attributes
    ----------
    sample_rate : int
    crop : int or None
    seed : int
    epoch : int
        Set by :meth:`set_epoch`; 0 at first.
    labels : list of str
        Tag or class names, in target order.
    task : {'tagging', 'classification'}
        'tagging': targets are float32 multi-hot tensors of shape
        ``(len(labels),)``; 'classification': int64 scalar tensors (class index).
    ids : list of str
        One identifier per item (a path relative to the dataset root for files).

    Notes
    -----
    The random state of item ``i`` is ``numpy.random.default_rng((seed, i,
    epoch))``: the same item, seed and epoch always give the same crop, in any
    process, so DataLoader workers need no seeding of their own. Call
    :meth:`set_epoch` before iterating each epoch. A DataLoader with
    ``persistent_workers=True`` keeps the copies of the dataset its workers got
    at the first epoch and so does not see later ``set_epoch`` calls; use the
    default ``persistent_workers=False``.

    An unreadable or corrupt file gives ``None`` for its item and one
    :class:`UnreadableAudioWarning` naming the file and the cause (once per
    file and dataset object; each DataLoader worker process holds its own copy).
    """

    task = None

    def __init__(self, *, sample_rate=16000, crop=None, seed=0):
        self.sample_rate = _check_int("sample_rate", sample_rate, minimum=1, allowed="a positive integer number of Hz")
        self.crop = _check_crop(crop)
        self.seed = _check_int("seed", seed, minimum=0, allowed="a non-negative integer")
        self.epoch = 0
        self.labels = []
        self.ids = []
        self._reported = set()

    def __len__(self):
        return len(self.ids)

    def __repr__(self):
        return (
            f"{type(self).__name__}(n_items={len(self)}, n_labels={len(self.labels)}, task={self.task!r}, "
            f"sample_rate={self.sample_rate}, crop={self.crop})"
        )

    def set_epoch(self, epoch):
        """Choose the epoch whose crops (and other random choices) :meth:`__getitem__` returns.

        Parameters
        ----------
        epoch : int >= 0
        """
        self.epoch = _check_int("epoch", epoch, minimum=0, allowed="a non-negative integer")

    def __getitem__(self, index):
        """Item ``index``: ``(waveform, target)``, or ``None`` if its file is unreadable.

        Returns
        -------
        waveform : torch.Tensor, shape (n_samples,), float32
            ``n_samples == crop`` when ``crop`` is set.
        target : torch.Tensor
            float32 multi-hot of shape ``(len(labels),)`` ('tagging') or an
            int64 scalar ('classification').
        """
        index = self._check_index(index)
        y = self._waveform(index)
        if y is None:
            return None
        rng = np.random.default_rng((self.seed, index, self.epoch))
        y = self._augment(self._crop(y, rng), rng)
        return torch.from_numpy(np.ascontiguousarray(y, dtype=np.float32)), self._target(index)

    # -- pieces for the subclasses

    def _check_index(self, index):
        try:
            index = int(index) if isinstance(index, np.integer) else index.__index__()
        except AttributeError:
            raise TypeError(f"dataset indices must be integers, not {type(index).__name__}") from None
        n = len(self)
        if not -n <= index < n:
            raise IndexError(f"index {index} is out of range for a dataset of {n} items")
        return index % n

    def _crop(self, y, rng):
        if self.crop is None:
            return y
        if y.shape[-1] < self.crop:
            return np.pad(y, (0, self.crop - y.shape[-1]))
        start = int(rng.integers(0, y.shape[-1] - self.crop + 1))
        return y[start : start + self.crop].copy()

    def _augment(self, y, rng):
        return y

    def _read(self, path):
        """Samples of ``path`` at ``sample_rate`` (mono float32), or None with one warning."""
        try:
            y, _ = load(path, sr=self.sample_rate, mono=True, dtype=np.float32)
        except (ParameterError, OSError) as exc:
            if path not in self._reported:
                self._reported.add(path)
                warnings.warn(f"skipping unreadable audio file {path!r}: {exc}", UnreadableAudioWarning, stacklevel=4)
            return None
        return y

    def _waveform(self, index):
        return self._read(self.paths[index])

    def _target(self, index):
        if self.task == "classification":
            return torch.tensor(int(self._targets[index]), dtype=torch.int64)
        return torch.from_numpy(self._targets[index].astype(np.float32))


def collate(batch):
    """Batch dataset items for a DataLoader, dropping the ``None`` of unreadable files.

    Parameters
    ----------
    batch : list of (torch.Tensor, torch.Tensor) or None
        Items of an :class:`AudioDataset`.

    Returns
    -------
    waveforms : torch.Tensor, shape (B, n_samples), float32
        Clips of different lengths are zero-padded at the end to the longest;
        for whole-clip evaluation use ``batch_size=1`` (or a ``crop``).
    targets : torch.Tensor, shape (B, n_labels) or (B,)
        The stacked targets.

    Returns None instead of the pair when every item is None.

    Examples
    --------
    >>> import torch
    >>> from modspec.data import collate
    >>> items = [(torch.ones(3), torch.tensor(1)), None, (torch.ones(2), torch.tensor(0))]
    >>> waveforms, targets = collate(items)
    >>> waveforms
    tensor([[1., 1., 1.],
            [1., 1., 0.]])
    >>> targets
    tensor([1, 0])
    """
    items = [item for item in batch if item is not None]
    if not items:
        return None
    waves = [wave for wave, _ in items]
    length = max(wave.shape[-1] for wave in waves)
    waveforms = waves[0].new_zeros((len(waves), length))
    for row, wave in zip(waveforms, waves):
        row[: wave.shape[-1]] = wave
    return waveforms, torch.stack([target for _, target in items])


# ----------------------------------------------------------------------------- MTAT

_MTAT_FOLDS = {"train": "0123456789ab", "valid": "c", "test": "def"}


class MTAT(AudioDataset):
    """MagnaTagATune, top-``n_tags`` tagging, with the fold split of the papers.

    Parameters
    ----------
    root : str or os.PathLike
        Folder of the dataset as distributed: ``annotations_final.csv`` and the
        MP3 folders ``0`` ... ``f``.
    split : {'train', 'valid', 'test'}
        Which clips. By default the usual split of Dieleman & Schrauwen (2014)
        and the papers after them: folders ``0``-``b`` train, ``c``
        validation, ``d``-``f`` test (the first character of ``mp3_path``).
    sample_rate : int > 0
        Sampling rate of the returned waveforms in Hz (MTAT's MP3s are 16 kHz).
    crop : int > 0 or None
        Random crop length in samples, or None for whole clips (~29 s).
    seed : int >= 0
        Seed of the crops.
    n_tags : int > 0
        Keep the ``n_tags`` most frequent tags, counted over the whole CSV
        (ties broken by column order).
    split_files : dict or None
        ``{split: path}`` of text files listing one ``mp3_path`` per line;
        replaces the fold split (for the splits of other papers).

    Attributes
    ----------
    labels : list of str
        The kept tags, most frequent first: target column ``j`` is ``labels[j]``.
    ids : list of str
        ``mp3_path`` of each clip, e.g. ``'f/american_bach_soloists-j_s__bach_solo_cantatas-01-bwv54__i_aria-30-59.mp3'``.
    paths : list of str
        Full path of each clip.
    clip_ids : list of str
        The CSV's ``clip_id`` of each clip.
    task : 'tagging'

    Raises
    ------
    ParameterError
        Missing ``root`` or CSV; unknown ``split``; ``n_tags`` not in
        ``1 .. number of tag columns``; a malformed CSV; ``split_files``
        without ``split``, naming a missing file or clips not in the CSV.

    Notes
    -----
    ``annotations_final.csv`` is tab-separated: ``clip_id``, one 0/1 column per
    tag (188 tags), ``mp3_path``; fields may be quoted or bare. Clips that have
    none of the kept tags are dropped (with the default 50 tags, 21,108 of the
    25,863 clips remain: 15,247 / 1,529 / 4,332). A few distributed MP3s are
    empty or corrupt (e.g. ``6/norine_braun-now_and_zen-08-gently-117-146.mp3``);
    their items are ``None``, with one :class:`UnreadableAudioWarning` each.
    """

    task = "tagging"

    def __init__(self, root, split="train", *, sample_rate=16000, crop=None, seed=0, n_tags=50, split_files=None):
        super().__init__(sample_rate=sample_rate, crop=crop, seed=seed)
        self.root = _check_path("root", root, "folder")
        self.split = check_choice("split", split, ("train", "valid", "test"))
        n_tags = _check_int("n_tags", n_tags, minimum=1, allowed="a positive integer")
        csv_path = os.path.join(self.root, "annotations_final.csv")
        if not os.path.isfile(csv_path):
            raise ParameterError(f"root={root!r} has no annotations_final.csv; pass the MagnaTagATune folder")

        rows = _read_table(csv_path, delimiter="\t")
        header, rows = rows[0], rows[1:]
        for name in ("clip_id", "mp3_path"):
            if name not in header:
                raise ParameterError(f"{csv_path!r} has no {name!r} column; its header is {header[:3]} ...")
        _check_row_lengths(rows, len(header), csv_path)
        id_col, path_col = header.index("clip_id"), header.index("mp3_path")
        tag_cols = [j for j in range(len(header)) if j not in (id_col, path_col)]
        if n_tags > len(tag_cols):
            raise ParameterError(f"n_tags={n_tags} is not allowed; {csv_path!r} has {len(tag_cols)} tags")

        annotations = _binary_matrix(rows, tag_cols, csv_path, first_line=2)
        counts = annotations.sum(axis=0, dtype=np.int64)
        top = sorted(range(len(tag_cols)), key=lambda j: (-counts[j], j))[:n_tags]
        self.labels = [header[tag_cols[j]] for j in top]
        targets = annotations[:, top]
        mp3_paths = [row[path_col] for row in rows]

        if split_files is None:
            folds = _MTAT_FOLDS[self.split]
            chosen = [i for i, p in enumerate(mp3_paths) if p and p[0].lower() in folds]
        else:
            chosen = self._listed(split_files, mp3_paths)
        chosen = [i for i in chosen if targets[i].any()]

        self.ids = [mp3_paths[i] for i in chosen]
        self.clip_ids = [rows[i][id_col] for i in chosen]
        self.paths = [os.path.join(self.root, *p.split("/")) for p in self.ids]
        self._targets = targets[chosen]

    def _listed(self, split_files, mp3_paths):
        if not isinstance(split_files, Mapping):
            raise ParameterError(f"split_files={split_files!r} must be a dict {{split: path of a list file}}")
        if self.split not in split_files:
            raise ParameterError(f"split_files has no entry for split={self.split!r}; its keys are {sorted(split_files)}")
        list_path = _check_path(f"split_files[{self.split!r}]", split_files[self.split], "file")
        with open(list_path, encoding="utf-8") as handle:
            wanted = list(dict.fromkeys(line.strip().strip('"') for line in handle if line.strip()))
        where = {p: i for i, p in enumerate(mp3_paths)}
        unknown = [p for p in wanted if p not in where]
        if unknown:
            raise ParameterError(
                f"split_files[{self.split!r}]={list_path!r} lists {len(unknown)} clip(s) not in "
                f"annotations_final.csv, e.g. {unknown[0]!r}; lines must be mp3_path values"
            )
        return [where[p] for p in wanted]


# ------------------------------------------------------------------- Speech Commands

_NOISE_FOLDER = "_background_noise_"


class SpeechCommands(AudioDataset):
    """Speech Commands v0.02 keyword classification (35 words), 1 s clips.

    Parameters
    ----------
    root : str or os.PathLike
        The extracted archive: one folder per word of ``.wav`` files,
        ``validation_list.txt``, ``testing_list.txt`` and ``_background_noise_``.
    subset : {'train', 'valid', 'test'}
        'valid' and 'test' are the files of ``validation_list.txt`` and
        ``testing_list.txt``; 'train' is every other file.
    words : list of str or None
        Classes to keep (files of other words are left out); None keeps every
        word folder present (35 in v0.02). Folders whose name starts with ``_``
        (``_background_noise_``) are never classes.
    sample_rate : int > 0
        Sampling rate of the returned waveforms in Hz (the files are 16 kHz).
    crop : int > 0 or None
        Samples per item: clips shorter than 1 s (many are) are zero-padded at
        the end to ``crop``, longer ones randomly cropped. The default 16000 is
        1 s at 16 kHz; pass ``crop=sample_rate`` for 1 s at another rate.
    seed : int >= 0
        Seed of the crops and the noise mixing.
    background_noise : bool
        Mix a random excerpt of a ``_background_noise_`` recording into 80 % of
        the items, at a gain uniform in [0, 0.1] (the augmentation of the
        TensorFlow Speech Commands baseline). Meant for 'train'; the choices
        follow ``(seed, index, epoch)`` like the crops. Needs ``crop`` set.

    Attributes
    ----------
    labels : list of str
        The words, sorted; the target is an index into it.
    ids : list of str
        Relative path of each clip, e.g. ``'yes/0a7c2a8d_nohash_0.wav'``.
    paths : list of str
        Full path of each clip.
    task : 'classification'

    Raises
    ------
    ParameterError
        Missing ``root`` or list file; unknown ``subset``; ``words`` naming a
        folder that is not there; ``background_noise`` without ``crop`` or
        without noise recordings.
    """

    task = "classification"

    def __init__(
        self, root, subset="train", *, words=None, sample_rate=16000, crop=16000, seed=0, background_noise=False
    ):
        super().__init__(sample_rate=sample_rate, crop=crop, seed=seed)
        self.root = _check_path("root", root, "folder")
        self.subset = check_choice("subset", subset, ("train", "valid", "test"))
        self.background_noise = bool(background_noise)

        present = sorted(
            name
            for name in os.listdir(self.root)
            if not name.startswith("_") and os.path.isdir(os.path.join(self.root, name))
        )
        if words is None:
            chosen = present
        else:
            if isinstance(words, str) or not all(isinstance(w, str) for w in words) or not words:
                raise ParameterError(f"words={words!r} must be None or a non-empty list of word names")
            missing = [w for w in words if w not in present]
            if missing:
                raise ParameterError(f"words={words!r} names {missing}, not folders of {self.root!r}; present: {present}")
            chosen = sorted(set(words))
        if not chosen:
            raise ParameterError(f"root={root!r} has no word folders")
        self.labels = list(chosen)

        lists = {}
        for key, name in (("valid", "validation_list.txt"), ("test", "testing_list.txt")):
            list_path = os.path.join(self.root, name)
            if not os.path.isfile(list_path):
                raise ParameterError(f"root={root!r} has no {name}; pass the Speech Commands v0.02 folder")
            with open(list_path, encoding="utf-8") as handle:
                lists[key] = {line.strip() for line in handle if line.strip()}

        files = [
            f"{word}/{name}"
            for word in self.labels
            for name in sorted(os.listdir(os.path.join(self.root, word)))
            if name.lower().endswith(".wav")
        ]
        if self.subset == "train":
            self.ids = [f for f in files if f not in lists["valid"] and f not in lists["test"]]
        else:
            self.ids = [f for f in files if f in lists[self.subset]]
        self.paths = [os.path.join(self.root, *f.split("/")) for f in self.ids]
        index = {word: k for k, word in enumerate(self.labels)}
        self._targets = np.array([index[f.split("/")[0]] for f in self.ids], dtype=np.int64)

        self.noise_paths = []
        if self.background_noise:
            if self.crop is None:
                raise ParameterError("background_noise=True needs crop set (e.g. crop=16000), not crop=None")
            folder = os.path.join(self.root, _NOISE_FOLDER)
            if os.path.isdir(folder):
                self.noise_paths = [
                    os.path.join(folder, name) for name in sorted(os.listdir(folder)) if name.lower().endswith(".wav")
                ]
            if not self.noise_paths:
                raise ParameterError(f"background_noise=True but {folder!r} holds no .wav recordings")
        self._noise = None

    def _augment(self, y, rng):
        if not self.background_noise:
            return y
        if self._noise is None:  # loaded on first use, in each worker process
            self._noise = [noise for noise in map(self._read, self.noise_paths) if noise is not None]
        mix, gain, pick, start = rng.random(4)
        if not self._noise or mix >= 0.8:
            return y
        noise = self._noise[int(pick * len(self._noise))]
        if noise.shape[-1] < y.shape[-1]:
            noise = np.resize(noise, y.shape[-1])
        start = int(start * (noise.shape[-1] - y.shape[-1] + 1))
        return y + np.float32(0.1 * gain) * noise[start : start + y.shape[-1]]


# ------------------------------------------------------------------------ TagFolder


class TagFolder(AudioDataset):
    """Any folder of audio files with a CSV of 0/1 tags.

    Parameters
    ----------
    root : str or os.PathLike
        Folder the CSV's paths are relative to.
    csv : str or os.PathLike
        The CSV file (an existing path, else a path inside ``root``), comma- or
        tab-separated (tab when the header line has a tab), fields bare or
        quoted. Columns: ``path`` (relative to ``root``, ``/``-separated), an
        optional ``split``, and one 0/1 column per tag.
    sample_rate : int > 0
        Sampling rate of the returned waveforms in Hz.
    crop : int > 0 or None
        Random crop length in samples, or None for whole files.
    seed : int >= 0
        Seed of the crops.
    split : str or None
        Keep the rows whose ``split`` column equals it; None keeps every row.

    Attributes
    ----------
    labels : list of str
        The tag columns, in CSV order.
    ids : list of str
        The ``path`` of each item, as in the CSV.
    paths : list of str
        Full path of each item.
    task : 'tagging'

    Raises
    ------
    ParameterError
        Missing ``root`` or CSV; no ``path`` column or no tag column; a tag
        value other than 0/1; ``split`` given without a ``split`` column or
        matching no row.
    """

    task = "tagging"

    def __init__(self, root, csv, *, sample_rate=16000, crop=None, seed=0, split=None):
        super().__init__(sample_rate=sample_rate, crop=crop, seed=seed)
        self.root = _check_path("root", root, "folder")
        try:
            csv_path = os.fspath(csv)
        except TypeError:
            raise ParameterError(f"csv={csv!r} must be a path to a CSV file") from None
        if not os.path.isfile(csv_path):
            csv_path = os.path.join(self.root, csv_path)
        if not os.path.isfile(csv_path):
            raise ParameterError(f"csv={csv!r} is not an existing file (looked as given and inside root={root!r})")
        self.csv = csv_path
        self.split = split

        with open(csv_path, encoding="utf-8") as handle:
            first = handle.readline()
        rows = _read_table(csv_path, delimiter="\t" if "\t" in first else ",")
        header, rows = rows[0], rows[1:]
        if "path" not in header:
            raise ParameterError(f"csv={csv!r} has no 'path' column; its header is {header}")
        _check_row_lengths(rows, len(header), csv_path)
        path_col = header.index("path")
        split_col = header.index("split") if "split" in header else None
        tag_cols = [j for j in range(len(header)) if j not in (path_col, split_col)]
        if not tag_cols:
            raise ParameterError(f"csv={csv!r} has no tag columns besides 'path' and 'split'")

        if split is not None:
            if split_col is None:
                raise ParameterError(f"split={split!r} was given but csv={csv!r} has no 'split' column")
            values = sorted({row[split_col] for row in rows})
            if split not in values:
                raise ParameterError(f"split={split!r} matches no row of csv={csv!r}; its splits are {values}")
            keep = [k for k, row in enumerate(rows) if row[split_col] == split]
        else:
            keep = range(len(rows))
        self.labels = [header[j] for j in tag_cols]
        self._targets = _binary_matrix(rows, tag_cols, csv_path, first_line=2)[list(keep)]
        self.ids = [rows[k][path_col] for k in keep]
        self.paths = [os.path.join(self.root, *p.split("/")) for p in self.ids]
