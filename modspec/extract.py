"""Feature extraction for a whole corpus, on Dask, into a Zarr store.

:func:`extract` (also callable as ``modspec.extract(...)``) and the command
``modspec extract`` read a folder, a list or a CSV of audio files, compute one
feature of :mod:`modspec.features` for every file on a Dask cluster and write
the results into a Zarr store. Re-running the same command resumes: the
batches already complete are skipped.

Layout of the store (``out``)::

    zarr.json              attrs["modspec_extract"]: sr, duration, short, batch_size, n_files
    path                   (n_files,) str: the source files, absolute, in input order
    <feature>/             attrs["modspec_extract"]: feature, function, params, layout, axes
        data               fixed length: (n_files, *shape) float32, one chunk per file
        clips/<i:07d>      variable length: one array per file i
        duration_s         (n_files,) float64: each source file's duration in s (NaN if failed)
        error              (n_files,) str: '' or why the file failed
        done               (n_batches,) bool: batch b is complete (the commit marker)
        failed/path        (n_failed,) str  } the failed table, rewritten at the end
        failed/reason      (n_failed,) str  } of every run

Batch ``b`` holds the files ``b * batch_size`` to ``(b + 1) * batch_size - 1``.
``duration_s`` and ``error`` are chunked by ``batch_size``, ``data`` by one
file, so no two batches ever write the same chunk.

Needs the ``distributed`` extra (``pip install modspec[distributed]``: dask,
distributed, zarr); ``import modspec`` does not import any of them.
"""

import argparse
import ast
import csv
import inspect
import json
import math
import numbers
import os
import sys
import threading
import time
import types
import warnings
from dataclasses import dataclass, field

import numpy as np

from modspec.errors import (
    ParameterError,
    check_choice,
    check_positive_int,
    check_sample_rate,
)

__all__ = ["FEATURES", "ExtractResult", "add_parser", "extract", "list_inputs", "status"]

#: Extensions taken from a folder (soundfile's formats, lower case).
AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".mp3", ".aif", ".aiff", ".au", ".w64", ".rf64", ".caf", ".opus")

#: What to do with a file shorter than ``duration``: zero-pad it, or list it in ``failed``.
SHORT_POLICIES = ("pad", "fail")

_STORE_KEY = "modspec_extract"
_FORMAT_VERSION = 1
_TRIAL_SECONDS = 4.0  # length of the trial clip that checks parameters with variable-length output
_MAX_CHUNK_BYTES = 8 * 2**20
_RESAMPLE_MARGIN_S = 0.05  # > the half-length of modspec.io.resample's filter at any rate ratio up to 1000  # variable-length arrays: chunks along time up to this size


def _require_distributed():
    try:
        import distributed  # noqa: F401
        import zarr  # noqa: F401
    except ImportError as exc:  # pragma: no cover - the extra is installed in CI
        raise ImportError(
            f"modspec.extract needs dask, distributed and zarr ({exc.name} is missing); "
            "install the extra: pip install 'modspec[distributed]'"
        ) from exc


# --------------------------------------------------------------------------- features


def _keywords(function, exclude):
    """Parameters of ``function`` and their defaults (None for required ones), minus ``exclude``."""
    return {
        name: None if p.default is inspect.Parameter.empty else p.default
        for name, p in inspect.signature(function).parameters.items()
        if name not in exclude
    }


@dataclass(frozen=True)
class _Feature:
    """A feature: which functions it calls, the defaults extract gives, its output axes."""

    name: str
    function: str  # what computes it, for the store's record
    axes: tuple
    defaults: dict = field(default_factory=dict)

    def signature_defaults(self):
        """Every parameter the feature accepts, with the library's default."""
        from modspec import features as mf

        if self.name == "modulation":
            # Each keyword goes to the one function that takes it; the three have no name in common.
            return {
                **_keywords(mf.melspectrogram, {"y", "S", "sr"}),
                **_keywords(mf.power_to_db, {"S"}),
                **_keywords(mf.modulation_filterbank, {"S", "frame_rate"}),
            }
        function = {
            "mel": mf.melspectrogram,
            "harmonic": mf.harmonic_spectrogram,
            "sinc": mf.sinc_filterbank,
            "modulation_spectrum": mf.modulation_spectrum,
            "scattering": mf.scattering,
            "jtfs": mf.jtfs,
            "jtfs_tensor": mf.jtfs_tensor,
        }[self.name]
        return _keywords(function, {"y", "S", "sr", "frame_rate", "return_spin"})

    def resolve(self, params, sr):
        """All parameters, library defaults < extract's defaults < ``params``; unknown names raise."""
        allowed = self.signature_defaults()
        unknown = sorted(set(params) - set(allowed))
        if unknown:
            raise ParameterError(
                f"parameter(s) {unknown} are not accepted by feature={self.name!r}; "
                f"it takes {sorted(allowed)} (sr is set by --sr)"
            )
        resolved = {**allowed, **self.defaults, **params}
        if self.name == "modulation" and resolved["max_mod_hz"] is None and "filters" not in params:
            # TMNN's initial range: [0, frame_rate / 4] (modspec.models.tmnn).
            resolved["max_mod_hz"] = sr / resolved["hop_length"] / 4
        try:
            # The store records them as JSON; tuples come back as lists, which the features accept.
            json.dumps(resolved)
        except TypeError as exc:
            raise ParameterError(f"parameters of feature={self.name!r} must be numbers, strings, "
                                 f"booleans, None or lists of them: {exc}") from None
        return resolved

    def compute(self, y, sr, params):
        """The feature of one float32 signal ``y`` at ``sr`` Hz, as a float32 array."""
        from modspec import features as mf

        p = {k: tuple(v) if isinstance(v, list) and k != "filters" else v for k, v in params.items()}
        if self.name == "mel":
            out = mf.melspectrogram(y, sr=sr, **p)
        elif self.name == "harmonic":
            out = mf.harmonic_spectrogram(y, sr, **p)
        elif self.name == "sinc":
            out = mf.sinc_filterbank(y, sr, **p)
        elif self.name == "modulation":
            mel = {k: p[k] for k in _keywords(mf.melspectrogram, {"y", "S", "sr"})}
            db = {k: p[k] for k in _keywords(mf.power_to_db, {"S"})}
            mod = {k: p[k] for k in _keywords(mf.modulation_filterbank, {"S", "frame_rate"})}
            S = mf.power_to_db(mf.melspectrogram(y, sr=sr, **mel), **db)
            out = mf.modulation_filterbank(S, frame_rate=sr / p["hop_length"], **mod)
        elif self.name == "modulation_spectrum":
            out = mf.modulation_spectrum(y, sr=sr, **p)[0]
        elif self.name == "scattering":
            out = mf.scattering(y, **p)
        elif self.name == "jtfs":
            out = mf.jtfs(y, **p)
        else:
            out = mf.jtfs_tensor(y, **p)
        return np.asarray(out, dtype=np.float32)


_STFT_16K = {"n_fft": 512, "hop_length": 256}  # the project's front end: 16 kHz, 62.5 frames/s

#: The features ``extract`` computes, by name. Defaults not listed are the library function's.
FEATURES = {
    f.name: f
    for f in (
        _Feature("mel", "modspec.features.melspectrogram", ("mel", "frame"), {**_STFT_16K, "n_mels": 96}),
        _Feature("harmonic", "modspec.features.harmonic_spectrogram", ("harmonic", "band", "frame")),
        _Feature("sinc", "modspec.features.sinc_filterbank", ("filter", "frame")),
        _Feature(
            "modulation",
            "modspec.features.modulation_filterbank(power_to_db(melspectrogram(y)), frame_rate=sr / hop_length)",
            ("mel", "channel", "frame"),
            {**_STFT_16K, "n_mels": 96, "top_db": None, "n_filters": 4, "kernel_size": 101, "all_pass": True},
        ),
        _Feature("modulation_spectrum", "modspec.features.modulation_spectrum", ("mod_freq",)),
        _Feature("scattering", "modspec.features.scattering", ("path", "frame"), {"J": 8, "Q": 8}),
        _Feature("jtfs", "modspec.features.jtfs", ("path", "frame"), {"J": 8, "J_fr": 3, "Q": [8, 2]}),
        _Feature("jtfs_tensor", "modspec.features.jtfs_tensor", ("frame", "n2", "n_fr"),
                 {"J": 8, "J_fr": 3, "Q": [8, 2]}),
    )
}


def _trial(feature, params, sr, duration):
    """Run the feature once on a quiet noise clip: checks every value, gives the output shape."""
    n = max(1, round((duration or _TRIAL_SECONDS) * sr))
    # Noise, not silence: jtfs_tensor divides by the first-order energy.
    y = (1e-3 * np.random.default_rng(0).standard_normal(n)).astype(np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        return feature.compute(y, sr, params).shape


# --------------------------------------------------------------------------- inputs


def _read_list(path):
    """Paths from a text list (one per line, '#' comments) or a CSV (a 'path' column, else the first)."""
    base = os.path.dirname(os.path.abspath(path))
    with open(path, newline="", encoding="utf-8") as fh:
        if path.lower().endswith(".csv"):
            rows = [row for row in csv.reader(fh) if row and any(cell.strip() for cell in row)]
            if not rows:
                return []
            header = [cell.strip().lower() for cell in rows[0]]
            column = header.index("path") if "path" in header else 0
            names = [row[column].strip() for row in rows[1 if "path" in header else 0 :] if len(row) > column]
        else:
            names = [line.strip() for line in fh if line.strip() and not line.lstrip().startswith("#")]
    return [name if os.path.isabs(name) else os.path.join(base, name) for name in names]


def list_inputs(inputs):
    """The audio files named by ``inputs``, as absolute paths in a fixed order.

    Parameters
    ----------
    inputs : str, os.PathLike or sequence of them
        A folder (its audio files, recursively, by extension, sorted), a text
        list (one path per line; blank lines and ``#`` comments skipped), a
        ``.csv`` file (the ``path`` column if the header has one, else the
        first column), or a sequence of file paths. Relative paths in a list
        or CSV are relative to that file's folder.

    Returns
    -------
    list of str
        Absolute paths. Files are not opened: unreadable ones fail later and
        are listed in the store's ``failed`` table.

    Raises
    ------
    ParameterError
        ``inputs`` does not exist, or names no file.
    """
    if isinstance(inputs, (str, os.PathLike)):
        source = os.fspath(inputs)
        if os.path.isdir(source):
            paths = sorted(
                os.path.join(root, name)
                for root, _, names in os.walk(source)
                for name in names
                if name.lower().endswith(AUDIO_EXTENSIONS) and not name.startswith(".")
            )
        elif os.path.isfile(source):
            paths = _read_list(source)
        else:
            raise ParameterError(f"inputs={source!r} does not exist; give a folder, a list file, a CSV or a list of paths")
    else:
        try:
            paths = [os.fspath(p) for p in inputs]
        except TypeError:
            raise ParameterError(
                f"inputs={inputs!r} must be a folder, a list or CSV file, or a sequence of paths"
            ) from None
        source = "the list given"
    if not paths:
        raise ParameterError(f"inputs={source!r} names no audio file (extensions {', '.join(AUDIO_EXTENSIONS)})")
    return [os.path.abspath(p) for p in paths]


# --------------------------------------------------------------------------- store


def _open_store(out, paths, feature, params, config, shape):
    """Create the store and the feature's arrays, or check that an existing one matches this run.

    The metadata attributes are written last, so a store whose creation was
    interrupted has none and is created again.
    """
    import zarr

    if os.path.isdir(out) and os.listdir(out) and not os.path.exists(os.path.join(out, "zarr.json")):
        raise ParameterError(f"out={out!r} is a folder that is not a Zarr store; choose a new --out")
    root = zarr.open_group(out, mode="a")
    meta = root.attrs.get(_STORE_KEY)
    if meta is None:
        if set(root.keys()) - {"path"}:
            raise ParameterError(f"out={out!r} is a Zarr group that modspec extract did not write; choose a new --out")
        path = root.create_array("path", shape=(len(paths),), chunks=(min(len(paths), 65536),), dtype=str,
                                 overwrite=True)
        path[:] = np.array(paths, dtype=object)
        meta = {"format": _FORMAT_VERSION, **config, "batch_size": config["batch_size"] or 8}
        root.attrs[_STORE_KEY] = meta
    else:
        stored = [str(p) for p in root["path"][:]]
        if stored != paths:
            changed = next((i for i, (a, b) in enumerate(zip(stored, paths)) if a != b), min(len(stored), len(paths)))
            raise ParameterError(
                f"out={out!r} was written for other inputs ({len(stored)} files; this run has {len(paths)}, "
                f"first difference at file {changed}); resume with the same inputs or choose a new --out"
            )
        _check_same(out, "the store", meta, {"format": _FORMAT_VERSION, **config}, "batch_size")
    batch_size, n = meta["batch_size"], len(paths)
    n_batches = math.ceil(n / batch_size)
    fmeta = {
        "feature": feature.name,
        "function": feature.function,
        "params": params,
        "layout": "fixed" if shape is not None else "variable",
        "shape": list(shape) if shape is not None else None,
        "axes": ["file", *feature.axes] if shape is not None else list(feature.axes),
        "dtype": "float32",
    }
    group = root.require_group(feature.name)
    stored = group.attrs.get(_STORE_KEY)
    if stored is not None:
        _check_same(out, f"feature {feature.name!r}", stored, fmeta, None)
        return meta
    if shape is not None:
        group.create_array("data", shape=(n, *shape), chunks=(1, *shape), dtype="float32", fill_value=np.nan,
                           compressors=_compressor(), overwrite=True)
    else:
        group.require_group("clips")
    group.create_array("duration_s", shape=(n,), chunks=(batch_size,), dtype="float64", fill_value=np.nan,
                       overwrite=True)
    group.create_array("error", shape=(n,), chunks=(batch_size,), dtype=str, overwrite=True)
    group.create_array("done", shape=(n_batches,), chunks=(1,), dtype=bool, fill_value=False, overwrite=True)
    group.attrs[_STORE_KEY] = fmeta
    return meta


def _compressor():
    """Blosc LZ4 with byte shuffle for the features.

    On float32 spectrograms it saves 13-16 % of the bytes, about as much as
    Zarr's default Zstandard, and writes in less time than no compression at
    all (Zstandard takes twice as long); a 30 s clip's TMNN features write in
    8 ms against 18 ms.
    """
    from zarr.codecs import BloscCodec

    return BloscCodec(cname="lz4", clevel=5, shuffle="shuffle")


def _check_same(out, what, stored, wanted, free):
    """Refuse to resume a store written with other settings (``free``: a key the caller did not fix)."""
    for key, value in wanted.items():
        if key == free and value is None:
            continue
        if json.loads(json.dumps(value)) != stored.get(key):
            raise ParameterError(
                f"out={out!r}: {what} was written with {key}={stored.get(key)!r}, this run asks for "
                f"{key}={value!r}; resume with the same settings or choose a new --out"
            )


def status(out, feature):
    """What the store holds for one feature: which files are complete, which failed and why.

    Parameters
    ----------
    out : str or os.PathLike
        The Zarr store written by :func:`extract`.
    feature : str
        A feature name of :data:`FEATURES` present in the store.

    Returns
    -------
    dict
        ``path`` (list of str, n_files), ``ok`` (bool array: the file's batch is
        done and the file did not fail; only these rows of ``data`` are
        valid), ``error`` (list of str, '' where none or not yet done),
        ``done`` (bool array, n_files: the file's batch is done),
        ``duration_s`` (float64 array) and the store's settings (``attrs``).
    """
    import zarr

    root = zarr.open_group(os.fspath(out), mode="r")
    if feature not in root or _STORE_KEY not in root[feature].attrs:
        raise ParameterError(f"feature={feature!r} is not in the store {os.fspath(out)!r}")
    group = root[feature]
    batch_size = root.attrs[_STORE_KEY]["batch_size"]
    paths = [str(p) for p in root["path"][:]]
    done = np.repeat(group["done"][:], batch_size)[: len(paths)]
    error = [str(e) if d else "" for e, d in zip(group["error"][:], done)]
    return {
        "path": paths,
        "done": done,
        "ok": done & np.array([not e for e in error], dtype=bool),
        "error": error,
        "duration_s": group["duration_s"][:],
        "attrs": {**root.attrs[_STORE_KEY], **group.attrs[_STORE_KEY]},
    }


def _write_failed(out, feature):
    """Rewrite ``<feature>/failed`` (path, reason) from the per-file errors of the batches done."""
    import zarr

    info = status(out, feature)
    bad = [(p, e) for p, e in zip(info["path"], info["error"]) if e]
    group = zarr.open_group(os.fspath(out), mode="a")[feature].require_group("failed")
    for name, column in (("path", [p for p, _ in bad]), ("reason", [e for _, e in bad])):
        array = group.create_array(name, shape=(len(bad),), chunks=(max(1, min(len(bad), 65536)),), dtype=str,
                                   overwrite=True)
        if bad:
            array[:] = np.array(column, dtype=object)
    return bad


# --------------------------------------------------------------------------- worker side

# warnings filters are process-wide: one thread at a time turns truncation warnings into errors.
_load_lock = threading.Lock()


def _load(path, sr, duration, short):
    """(signal, source duration in s) of one file, cropped or padded to ``duration`` if given."""
    import soundfile

    from modspec import io

    with _load_lock, warnings.catch_warnings():
        warnings.simplefilter("error", io.TruncatedAudioWarning)
        try:
            info = soundfile.info(path)
        except Exception:
            io.load(path)  # raises the ParameterError that names the cause (empty, not audio, ...)
            raise
        # Read a little past the end so that the resampler's filter sees the samples that follow:
        # the crop then equals the whole file resampled and cropped.
        margin = 0.0 if duration is None or info.samplerate == sr else _RESAMPLE_MARGIN_S
        y, _ = io.load(path, sr=sr, duration=None if duration is None else duration + margin)
    seconds = info.frames / info.samplerate
    if duration is not None:
        n = round(duration * sr)
        if info.frames < round(duration * info.samplerate) and short == "fail":
            raise ParameterError(f"the file lasts {seconds:.6g} s, shorter than duration={duration!r} s (short='fail')")
        # Resampling rounds the length up; crop or zero-pad to exactly n samples.
        y = np.pad(y[:n], (0, max(0, n - y.shape[-1])))
    return y, seconds


def _write_clip(group, index, x, fixed):
    """Write one file's feature: a row of ``data``, or its own array under ``clips``."""
    if fixed:
        group["data"][index] = x
        return
    chunks = list(x.shape)
    if x.ndim and x.nbytes > _MAX_CHUNK_BYTES:
        chunks[-1] = max(1, int(x.shape[-1] * _MAX_CHUNK_BYTES // x.nbytes))
    array = group["clips"].create_array(f"{index:07d}", shape=x.shape, chunks=tuple(chunks) or None,
                                        dtype="float32", compressors=_compressor(), overwrite=True)
    array[...] = x


def _extract_batch(out, feature_name, params, sr, duration, short, batch, start, stop):
    """Extract files ``start:stop`` (batch ``batch``) and mark the batch done; runs on a worker.

    The ``done`` flag is written after every chunk of the batch: a crash
    before it leaves the batch not done, and the next run redoes it whole.
    """
    import zarr

    feature = FEATURES[feature_name]
    root = zarr.open_group(out, mode="r+")
    group = root[feature_name]
    fixed = "data" in group
    paths = root["path"][start:stop]
    seconds = np.full(stop - start, np.nan)
    errors = [""] * (stop - start)
    for k, path in enumerate(paths):
        try:
            y, seconds[k] = _load(str(path), sr, duration, short)
            x = feature.compute(y, sr, params)
        except Exception as exc:  # noqa: BLE001 - any failure of one file is recorded and the run goes on
            seconds[k] = np.nan
            errors[k] = f"{type(exc).__name__}: {exc}"
            continue
        _write_clip(group, start + k, x, fixed)
    group["duration_s"][start:stop] = seconds
    group["error"][start:stop] = np.array(errors, dtype=object)
    group["done"][batch] = True
    return {"files": stop - start, "failed": sum(bool(e) for e in errors)}


# --------------------------------------------------------------------------- client side


@dataclass
class ExtractResult:
    """Summary of one :func:`extract` run.

    Attributes
    ----------
    out : str
        The store.
    feature : str
    n_files : int
        Files in the inputs.
    n_extracted : int
        Files processed by this run (failed ones included).
    n_skipped : int
        Files of batches complete before this run (resumed).
    failed : list of (str, str)
        (path, reason) of every failed file in the store, this run's and earlier ones.
    seconds : float
        Wall-clock time of the extraction, cluster start excluded.
    """

    out: str
    feature: str
    n_files: int
    n_extracted: int
    n_skipped: int
    failed: list
    seconds: float

    @property
    def files_per_second(self):
        """Files processed by this run per second of wall-clock time."""
        return self.n_extracted / self.seconds if self.seconds > 0 else float("nan")


def _client(scheduler, workers, memory_limit, processes):
    """A distributed Client: on ``scheduler`` (an address or a Client), or on a new LocalCluster."""
    from distributed import Client, LocalCluster

    if scheduler is not None and not isinstance(scheduler, str):
        return scheduler, None, False
    if scheduler is not None:
        return Client(scheduler), None, True
    cores = os.cpu_count() or 1
    threads = str(max(1, cores // workers))
    # One task thread per worker; the kernels of each worker share the cores between them.
    env = {"NUMBA_NUM_THREADS": threads, "OMP_NUM_THREADS": threads, "OPENBLAS_NUM_THREADS": threads}
    cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=processes, memory_limit=memory_limit,
                           dashboard_address=":0", **({"env": env} if processes else {}))
    return Client(cluster), cluster, True


def extract(
    inputs, feature, out, *, sr=16000, duration=None, short="pad", batch_size=None, scheduler=None, workers=None,
    memory_limit="auto", processes=True, progress=True, **params,
):
    """Compute one feature for every file of a corpus on Dask and write it to a Zarr store.

    Parameters
    ----------
    inputs : str, os.PathLike or sequence of them
        A folder, a text list, a CSV or a sequence of paths (:func:`list_inputs`).
    feature : str
        One of :data:`FEATURES`: ``'mel'`` (:func:`modspec.features.melspectrogram`,
        power, default n_fft 512, hop 256, 96 bands), ``'harmonic'``,
        ``'sinc'``, ``'modulation'`` (TMNN's front end: the dB mel spectrogram,
        96 bands, n_fft 512, hop 256, then
        :func:`modspec.features.modulation_filterbank` on every band: 4 sinc
        filters of 101 taps tiling 0 to frame_rate / 4, plus the unfiltered
        band, shape (96, 5, n_frames)), ``'modulation_spectrum'`` (the
        spectrum, without the frequencies), ``'scattering'`` (J=8, Q=8),
        ``'jtfs'`` or ``'jtfs_tensor'`` (J=8, J_fr=3, Q=(8, 2)).
    out : str or os.PathLike
        The Zarr store (a folder). On a cluster it must be on a file system
        every worker sees at the same path, like the inputs.
    sr : float > 0
        Every file is resampled to ``sr`` Hz.
    duration : float > 0 or None
        Fixed length in s: each file is read from its start and cropped to
        ``duration`` (or padded, see ``short``); the results form one array
        ``<feature>/data`` of shape (n_files, ...). None: whole files, one
        array per file (``<feature>/clips/<index>``).
    short : {'pad', 'fail'}
        With ``duration``: zero-pad shorter files, or list them as failed.
    batch_size : int > 0 or None
        Files per task. None: 8 for a new store, the store's own on resume.
    scheduler : str, distributed.Client or None
        Address of a running Dask scheduler (``'tcp://host:8786'``), or a
        Client; None starts a ``distributed.LocalCluster``.
    workers : int > 0 or None
        Worker processes of the local cluster (None: one per core), each
        with one task thread and ``cores // workers`` kernel threads.
    memory_limit : str or int
        Memory limit of each local worker (Dask's ``memory_limit``).
    processes : bool
        Local workers as processes (True) or threads of this process.
    progress : bool
        Show a progress bar with files per second.
    **params
        Parameters of the feature, e.g. ``n_mels=128``; see
        :data:`FEATURES` for the functions that take them.

    Returns
    -------
    ExtractResult

    Raises
    ------
    ParameterError
        Before any work: unknown feature or parameter, a parameter value the
        feature refuses, missing inputs, a store written with other
        settings.
    RuntimeError
        A batch raised on its worker (e.g. the worker died); the others were
        written, and running again retries it.

    Notes
    -----
    Each task loads, resamples and extracts a batch of files and writes their
    chunks itself; the client receives only counts, so memory is bounded by
    one batch per worker thread, whatever the corpus size. A batch is
    committed by its ``done`` flag, written after its chunks; Zarr's local
    store writes every chunk to a temporary file renamed into place, so a
    crash leaves no partial chunk, and batches not flagged are redone on
    the next run. Failed files (unreadable, empty, truncated, not audio,
    too short for the feature) are recorded in ``<feature>/error`` and listed
    in ``<feature>/failed``; the run goes on.

    The store records everything needed to recompute a row: the source path,
    ``sr``, ``duration``, ``short``, the function and all its parameters,
    defaults included.
    """
    _require_distributed()
    spec = FEATURES.get(feature) if isinstance(feature, str) else None
    if spec is None:
        raise ParameterError(f"feature={feature!r} is not supported; use one of {sorted(FEATURES)}")
    sr = check_sample_rate("sr", sr)
    if duration is not None:
        if isinstance(duration, bool) or not isinstance(duration, numbers.Real) or not 0 < duration < math.inf:
            raise ParameterError(f"duration={duration!r} must be None (whole files) or a positive number of seconds")
        duration = float(duration)
    check_choice("short", short, SHORT_POLICIES)
    batch_size = check_positive_int("batch_size", batch_size, allow_none=True)
    workers = check_positive_int("workers", workers, allow_none=True) or os.cpu_count() or 1
    resolved = spec.resolve(params, sr)
    try:
        shape = _trial(spec, resolved, sr, duration)
    except (ParameterError, RuntimeWarning) as exc:
        raise ParameterError(f"feature={feature!r} refuses the parameters {params}: {exc}") from exc
    paths = list_inputs(inputs)
    out = os.fspath(out)
    out = out if "://" in out else os.path.abspath(out)
    # batch_size None: 8 for a new store, the store's own on resume.
    config = {"sr": sr, "duration": duration, "short": short, "batch_size": batch_size, "n_files": len(paths)}
    meta = _open_store(out, paths, spec, resolved, config, shape if duration is not None else None)
    batch_size = meta["batch_size"]

    import zarr

    done = zarr.open_group(out, mode="r")[feature]["done"][:]
    todo = [(int(b), int(b) * batch_size, min((int(b) + 1) * batch_size, len(paths))) for b in np.flatnonzero(~done)]
    n_skipped = len(paths) - sum(int(stop - start) for _, start, stop in todo)
    errors = []
    seconds = 0.0
    if todo:
        client, cluster, own = _client(scheduler, workers, memory_limit, processes)
        try:
            seconds = _run_batches(client, todo, (out, feature, resolved, sr, duration, short), progress, errors)
        finally:
            if own:
                client.close()
            if cluster is not None:
                cluster.close()
    failed = _write_failed(out, feature)
    if errors:
        raise RuntimeError(
            f"{len(errors)} batch(es) did not complete ({errors[0]}); the others are written in {out!r}; "
            "run the same command again to retry them"
        )
    return ExtractResult(out, feature, len(paths), len(paths) - n_skipped, n_skipped, failed, seconds)


def _run_batches(client, todo, args, progress, errors):
    """Submit the batches, at most a few per worker thread at a time; returns the elapsed seconds."""
    import uuid

    from distributed import as_completed
    from tqdm.auto import tqdm

    in_flight = 2 * max(1, sum(client.nthreads().values()))
    token = uuid.uuid4().hex[:8]  # a fresh key per run: the scheduler must never reuse an earlier result
    pending = iter(todo)
    sizes = {}

    def submit(item):
        batch, start, stop = item
        future = client.submit(_extract_batch, *args, batch, start, stop, key=f"extract-{args[1]}-b{batch}-{token}")
        sizes[future.key] = (batch, stop - start)
        return future

    t0 = time.perf_counter()
    queue = as_completed([submit(item) for _, item in zip(range(in_flight), pending)])
    with tqdm(total=sum(stop - start for _, start, stop in todo), unit="file", disable=not progress,
              desc="extract", smoothing=0.1) as bar:
        failed = 0
        for future in queue:
            batch, n = sizes.pop(future.key)
            try:
                failed += future.result()["failed"]
            except Exception as exc:  # noqa: BLE001 - a lost batch is reported; the rest go on
                errors.append(f"batch {batch}: {type(exc).__name__}: {exc}")
            future.release()
            bar.update(n)
            bar.set_postfix(failed=failed, refresh=False)
            item = next(pending, None)
            if item is not None:
                queue.add(submit(item))
    return time.perf_counter() - t0


# --------------------------------------------------------------------------- command line


def _parse_param(text):
    """``KEY=VALUE``, VALUE a Python literal (number, bool, None, tuple) or else a string."""
    key, eq, value = text.partition("=")
    if not eq or not key.isidentifier():
        raise argparse.ArgumentTypeError(f"--param {text!r} must be KEY=VALUE, e.g. n_mels=128 or Q=(8,2)")
    try:
        value = ast.literal_eval(value)
    except (ValueError, SyntaxError):
        pass
    return key, list(value) if isinstance(value, tuple) else value


def _run(args):
    """The ``modspec extract`` command: returns its exit status."""
    try:
        result = extract(
            args.input, args.feature, args.out, sr=args.sr, duration=args.duration, short=args.short,
            batch_size=args.batch_size, scheduler=args.scheduler, workers=args.workers,
            memory_limit=args.memory_limit, progress=not args.quiet, **dict(args.param),
        )
    except RuntimeError as exc:
        print(f"modspec extract: {exc}", file=sys.stderr)
        return 1
    for path, reason in result.failed:
        print(f"failed: {path}: {reason}", file=sys.stderr)
    rate = f" in {result.seconds:.1f} s ({result.files_per_second:.2f} files/s)" if result.n_extracted else ""
    print(f"{result.out}: {result.n_files} files, {result.n_extracted} extracted{rate}, {result.n_skipped} already "
          f"done, {len(result.failed)} failed (table {result.feature}/failed)")
    return 1 if args.strict and result.failed else 0


def add_parser(subparsers):
    """Add the ``extract`` sub-command to ``modspec``'s sub-parsers; returns its parser."""
    p = subparsers.add_parser(
        "extract", help="compute a feature for every file of a corpus on Dask into a Zarr store (resumable)",
        description="Compute a feature for every audio file of a folder, list or CSV on a Dask cluster and write "
                    "it into a Zarr store. Running the same command again resumes.",
    )
    p.add_argument("--feature", required=True, choices=sorted(FEATURES))
    p.add_argument("--input", required=True, help="a folder (its audio files, recursively), a text list of paths "
                   "or a CSV with a 'path' column")
    p.add_argument("--out", required=True, help="the Zarr store, e.g. features.zarr")
    p.add_argument("--sr", type=float, default=16000, help="resample to this rate in Hz (default 16000)")
    p.add_argument("--duration", type=float, default=None,
                   help="crop or pad every file to this many seconds (one array); default: whole files")
    p.add_argument("--short", choices=SHORT_POLICIES, default="pad",
                   help="with --duration, zero-pad shorter files (default) or list them as failed")
    p.add_argument("--param", type=_parse_param, action="append", default=[], metavar="KEY=VALUE",
                   help="a feature parameter (repeatable), e.g. --param n_mels=128 --param Q=(8,2)")
    p.add_argument("--scheduler", default=None, help="address of a running Dask scheduler, e.g. tcp://host:8786 "
                   "(default: start a local cluster)")
    p.add_argument("--workers", type=int, default=None, help="local worker processes (default: one per core)")
    p.add_argument("--memory-limit", default="auto", help="memory limit per local worker, e.g. 2GB (default auto)")
    p.add_argument("--batch-size", type=int, default=None, help="files per task (default 8)")
    p.add_argument("--strict", action="store_true", help="exit with status 1 if any file failed")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(run=_run)
    return p


class _CallableModule(types.ModuleType):
    """``modspec.extract(...)`` calls :func:`extract` even once this module has been imported."""

    def __call__(self, *args, **kwargs):
        return extract(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
