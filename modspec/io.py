"""Read, resample and write audio files.

:func:`load` and :func:`save` go through `soundfile` (libsndfile: WAV, FLAC,
OGG/Vorbis, MP3 and the other formats of ``soundfile.available_formats()``);
:func:`resample` is a polyphase FIR resampler from SciPy. Signals are
channels-first, ``(n_channels, n_samples)``, like librosa and the rest of
modspec. ``soundfile`` and ``scipy.signal`` are imported on first use, so
``import modspec.io`` costs only NumPy.
"""

import math
import numbers
import os
import re
import secrets
import warnings
from fractions import Fraction

import numpy as np

from modspec.errors import ParameterError, check_audio, check_dtype, check_sample_rate

__all__ = ["TruncatedAudioWarning", "load", "resample", "save"]

# libsndfile logs a chunk whose declared size disagrees with the bytes present as
# "data : 16000 (should be 7978)" (WAV, RF64, W64; "SSND" in AIFF).
_CHUNK_SIZE_LOG = re.compile(r"^\s*(?:data|SSND)\s*:\s*(\d+)\s*\(should be (\d+)\)", re.M)

# An MP3 file's frame count is an estimate (Xing header or bitrate); a short read
# counts as truncation only beyond this many samples or this fraction of the request.
_MP3_SLACK_SAMPLES = 4 * 1152
_MP3_SLACK_FRACTION = 0.01


class TruncatedAudioWarning(UserWarning):
    """The file holds fewer samples than its header declares; the ones present were read.

    Turn it into an error with
    ``warnings.filterwarnings("error", category=modspec.io.TruncatedAudioWarning)``.
    """


# --------------------------------------------------------------------------- checks


def _check_seconds(name, value, *, strictly_positive):
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Real)
        or not math.isfinite(value)
        or (value <= 0 if strictly_positive else value < 0)
    ):
        allowed = "> 0" if strictly_positive else ">= 0"
        raise ParameterError(f"{name}={value!r} must be a finite number of seconds {allowed}")
    return float(value)


def _unreadable(path, cause):
    return ParameterError(f"cannot read audio file {path!r}: {cause}")


def _open_for_reading(path):
    """Open ``path`` with soundfile, turning every failure into a ParameterError."""
    import soundfile

    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise _unreadable(path, "file not found") from None
    except OSError as exc:
        raise _unreadable(path, f"cannot access it ({exc.strerror or exc})") from exc
    if not os.path.isfile(path):
        raise _unreadable(path, "not a regular file")
    if st.st_size == 0:
        raise _unreadable(path, "the file is empty (0 bytes)")
    try:
        return soundfile.SoundFile(path)
    except (soundfile.LibsndfileError, RuntimeError) as exc:
        raise _unreadable(path, f"not a supported audio format or corrupt: {exc}") from exc


def _declared_data_bytes(sfile):
    """(declared, present) byte counts of a data chunk libsndfile found short, else None."""
    log = getattr(sfile, "extra_info", "") or ""
    for declared, present in _CHUNK_SIZE_LOG.findall(log):
        if int(present) < int(declared):
            return int(declared), int(present)
    return None


# ------------------------------------------------------------------------------ API


def load(path, *, sr=None, mono=True, offset=0.0, duration=None, dtype=np.float32):
    """Read an audio file (WAV, FLAC, OGG, MP3, ...) as floating-point samples.

    Parameters
    ----------
    path : str or os.PathLike
        The file. Its format is detected from its contents, not its name.
    sr : float > 0 or None
        Target sampling rate in Hz. ``None`` keeps the file's own rate; a different
        rate resamples with :func:`resample`.
    mono : bool
        ``True`` averages the channels into one signal; ``False`` keeps them all.
    offset : float >= 0
        Start reading this many seconds into the file (rounded to the nearest
        sample at the file's rate). Must lie before the end of the file.
    duration : float > 0 or None
        Read at most this many seconds (rounded to the nearest sample at the
        file's rate); ``None`` reads to the end. A duration that runs past the
        end returns the samples up to the end.
    dtype : np.float32 or np.float64
        Sample type of the result.

    Returns
    -------
    y : np.ndarray, shape (n_samples,) if ``mono`` else (n_channels, n_samples)
        Samples in [-1, 1] for integer PCM files, channels first. With
        ``mono=False`` the result is 2-D even for a one-channel file
        (librosa returns 1-D there).
    sr : float
        Sampling rate of ``y`` in Hz: the ``sr`` argument, or the file's rate.

    Raises
    ------
    ParameterError
        The file is missing, empty (0 bytes or 0 frames), corrupt or not audio;
        or ``offset``, ``duration``, ``sr`` or ``dtype`` is invalid. The message
        names the file and the cause.

    Warns
    -----
    TruncatedAudioWarning
        The file ends before the length its header declares (e.g. an interrupted
        download). The samples present are returned; only the range read is affected.

    Notes
    -----
    Only the frames from ``offset`` to ``offset + duration`` are decoded (the file
    is seeked, not read whole). Channels are averaged before resampling.
    """
    sr = check_sample_rate("sr", sr, allow_none=True)
    offset = _check_seconds("offset", offset, strictly_positive=False)
    if duration is not None:
        duration = _check_seconds("duration", duration, strictly_positive=True)
    dt = check_dtype(dtype)
    path = os.fspath(path)

    import soundfile

    with _open_for_reading(path) as sfile:
        sr_native = sfile.samplerate
        n_total = sfile.frames
        if n_total <= 0:
            raise _unreadable(
                path,
                "the file is empty: it contains no audio frames "
                "(or is truncated before the first one)",
            )
        start = int(round(offset * sr_native))
        if start >= n_total:
            raise _unreadable(
                path,
                f"offset={offset!r} s is beyond the end of the file "
                f"({n_total / sr_native:.6g} s, {n_total} frames at {sr_native} Hz)",
            )
        if duration is None:
            n_wanted = n_total - start
        else:
            n_wanted = int(round(duration * sr_native))
            if n_wanted == 0:
                raise ParameterError(
                    f"duration={duration!r} s is shorter than one sample at the file's "
                    f"rate of {sr_native} Hz ({path!r})"
                )
            n_wanted = min(n_wanted, n_total - start)
        try:
            if start:
                sfile.seek(start)
            data = sfile.read(frames=n_wanted, dtype=dt.name, always_2d=True)
        except (soundfile.LibsndfileError, RuntimeError) as exc:
            raise _unreadable(path, f"not a supported audio format or corrupt: {exc}") from exc
        n_read = data.shape[0]
        if n_read == 0:
            raise _unreadable(
                path,
                f"no audio frames could be decoded at offset={offset!r} s "
                f"(the file is empty or truncated)",
            )
        reaches_end = start + n_wanted >= n_total
        short = _declared_data_bytes(sfile) if reaches_end else None
        if short is not None:
            declared, present = short
            warnings.warn(
                f"audio file {path!r} is truncated: its header declares {declared} bytes "
                f"of audio but only {present} are present; returning the {n_read} "
                f"frames read",
                TruncatedAudioWarning,
                stacklevel=2,
            )
        elif n_read < n_wanted:
            shortfall = n_wanted - n_read
            is_mp3 = sfile.format == "MP3"
            if not is_mp3 or shortfall > max(
                _MP3_SLACK_SAMPLES, _MP3_SLACK_FRACTION * n_wanted
            ):
                warnings.warn(
                    f"audio file {path!r} is truncated: expected {n_wanted} frames from "
                    f"offset={offset!r} s but only {n_read} could be decoded; returning "
                    f"those",
                    TruncatedAudioWarning,
                    stacklevel=2,
                )

    if mono:
        y = data.mean(axis=1, dtype=dt) if data.shape[1] > 1 else data[:, 0]
        y = np.ascontiguousarray(y, dtype=dt)
    else:
        y = np.ascontiguousarray(data.T, dtype=dt)

    if sr is None or sr == sr_native:
        return y, (sr_native if sr is None else sr)
    return resample(y, orig_sr=sr_native, target_sr=sr), sr


def resample(y, *, orig_sr, target_sr):
    """Change the sampling rate of a signal along its last axis.

    Parameters
    ----------
    y : np.ndarray, shape (..., n_samples), float32 or float64
        Signal; leading axes (channels, batch) are kept.
    orig_sr : float > 0
        Sampling rate of ``y`` in Hz.
    target_sr : float > 0
        Wanted sampling rate in Hz.

    Returns
    -------
    y_hat : np.ndarray, shape (..., ceil(n_samples * target_sr / orig_sr))
        Resampled signal, same dtype as ``y``. ``y`` itself (not a copy) when
        the rates are equal.

    Raises
    ------
    ParameterError
        ``y`` is not a finite float32/float64 array, or a rate is not positive.

    Notes
    -----
    Uses :func:`scipy.signal.resample_poly` with the exact ratio
    ``target_sr / orig_sr = up / down`` in lowest terms: zero-stuff by ``up``,
    low-pass with a Kaiser-window FIR (beta 5, cut-off at the lower Nyquist
    rate), keep every ``down``-th sample. Matches
    ``librosa.resample(y, orig_sr=..., target_sr=..., res_type="polyphase")``.
    """
    check_audio(y)
    orig_sr = check_sample_rate("orig_sr", orig_sr)
    target_sr = check_sample_rate("target_sr", target_sr)
    if orig_sr == target_sr:
        return y

    # Why resample_poly: SciPy is already a core dependency (no extra package such as
    # soxr or resampy), it is a polyphase Kaiser-window FIR (good anti-aliasing, cost
    # proportional to the output length) and it is deterministic across platforms.
    # Fraction of an integer-valued float is exact and Fraction reduces by the gcd,
    # so integer rates (44100 -> 16000 = 160/441) get their exact ratio; only
    # non-integer rates are approximated, to within 1/1000 Hz each.
    ratio = Fraction(target_sr).limit_denominator(1000) / Fraction(orig_sr).limit_denominator(
        1000
    )
    import scipy.signal

    y_hat = scipy.signal.resample_poly(y, ratio.numerator, ratio.denominator, axis=-1)
    return np.ascontiguousarray(y_hat, dtype=y.dtype)


def save(path, y, sr, *, subtype=None):
    """Write a signal to an audio file, atomically.

    Parameters
    ----------
    path : str or os.PathLike
        Destination. The format comes from the extension (``.wav``, ``.flac``,
        ``.ogg``, ``.mp3``, ... any of ``soundfile.available_formats()``). An
        existing file is replaced.
    y : np.ndarray, shape (n_samples,) or (n_channels, n_samples), float32 or float64
        Samples, channels first, nominally in [-1, 1].
    sr : int > 0
        Sampling rate in Hz.
    subtype : str or None
        soundfile subtype, e.g. ``"PCM_16"``, ``"PCM_24"``, ``"FLOAT"``,
        ``"VORBIS"``. ``None`` takes soundfile's default for the format
        (PCM_16 for WAV and FLAC, VORBIS for OGG, MPEG_LAYER_III for MP3).

    Raises
    ------
    ParameterError
        Bad ``y``, ``sr``, extension or subtype, or the file cannot be written;
        ``path`` is left as it was.

    Warns
    -----
    UserWarning
        Samples outside [-1, 1] written to a non-float subtype: libsndfile clips them.

    Notes
    -----
    The data go to a temporary file in the destination's directory, which is
    flushed to disk and then renamed over ``path`` (:func:`os.replace`). A crash
    leaves either the old file or the complete new one, never a partial file.
    """
    import soundfile

    check_audio(y)
    if y.ndim > 2:
        raise ParameterError(
            f"y has shape {y.shape}; save takes (n_samples,) or (n_channels, n_samples)"
        )
    if (
        isinstance(sr, bool)
        or not isinstance(sr, numbers.Real)
        or not math.isfinite(sr)
        or sr <= 0
        or int(sr) != sr
    ):
        raise ParameterError(f"sr={sr!r} must be a positive integer number of Hz")
    sr = int(sr)
    path = os.fspath(path)

    ext = os.path.splitext(path)[1][1:]
    fmt = ext.upper()
    formats = soundfile.available_formats()
    if fmt not in formats:
        raise ParameterError(
            f"cannot write audio file {path!r}: unknown extension {ext!r}; use one of "
            f"{', '.join('.' + f.lower() for f in sorted(formats))}"
        )
    if subtype is None:
        subtype = soundfile.default_subtype(fmt)
    elif not soundfile.check_format(fmt, subtype):
        raise ParameterError(
            f"subtype={subtype!r} is not available for {fmt} files; use one of "
            f"{sorted(soundfile.available_subtypes(fmt))}"
        )
    if subtype not in ("FLOAT", "DOUBLE"):
        peak = float(np.max(np.abs(y)))
        if peak > 1.0:
            warnings.warn(
                f"y peaks at {peak:.6g}, outside [-1, 1]; subtype {subtype} clips it. "
                f"Scale it (y / np.abs(y).max()) or use subtype='FLOAT'",
                UserWarning,
                stacklevel=2,
            )

    data = y.T if y.ndim == 2 else y
    channels = 1 if y.ndim == 1 else y.shape[0]
    directory = os.path.dirname(os.path.abspath(path))
    base = os.path.basename(path)

    # O_EXCL on a random name: no clash with a concurrent writer; mode 0o666 lets the
    # umask give the file the permissions an ordinary create would.
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    for _ in range(100):
        tmp = os.path.join(directory, f".{base}.{secrets.token_hex(6)}.tmp")
        try:
            fd = os.open(tmp, flags, 0o666)
            break
        except FileExistsError:
            continue
        except OSError as exc:
            raise ParameterError(
                f"cannot write audio file {path!r}: {exc.strerror or exc}"
            ) from exc
    else:  # pragma: no cover - 100 collisions of 48 random bits
        raise ParameterError(f"cannot write audio file {path!r}: no free temporary name")

    try:
        with os.fdopen(fd, "w+b") as fh:
            with soundfile.SoundFile(
                fh, "w", samplerate=sr, channels=channels, subtype=subtype, format=fmt
            ) as out:
                out.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(exc, (soundfile.LibsndfileError, RuntimeError)):
            raise ParameterError(f"cannot write audio file {path!r}: {exc}") from exc
        if isinstance(exc, OSError):
            raise ParameterError(
                f"cannot write audio file {path!r}: {exc.strerror or exc}"
            ) from exc
        raise

    # Make the rename itself durable where directories can be opened (POSIX).
    if hasattr(os, "O_DIRECTORY"):
        try:
            dir_fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
        except OSError:
            return
        try:
            os.fsync(dir_fd)
        except OSError:
            pass
        finally:
            os.close(dir_fd)
