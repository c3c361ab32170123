"""Training throughput of every model of ``modspec.models``: clips per second, one Adam step at a time.

For every model (default options: the paper's clip length, ``model.n_samples``)
one training step — forward, the model's loss, backward, Adam (lr 1e-3) — on a
seeded batch of 16 clips of noise with seeded multi-hot targets, on the CPU or
on a CUDA GPU (synchronised after every step; the GPU's name is in the
figures). Each model is built, trained for one untimed warm-up step (three on
a GPU), then timed for ``--rounds`` steps, and for more if they took less than
``--min-time`` seconds together; the median step gives

- seconds per step,
- clips per second (batch / median step),
- clip seconds per wall second (clips per second x clip length).

``jtfs_packnet`` is measured in two labelled parts, as its paper works: its
front end (jTFS) has no parameters and takes about a minute per clip on the
CPU in torch at the default window, so the features are computed once and the
back end is trained on them. (a) its training step is the back end's, on
precomputed ``JTFSTensor`` outputs (16, N, J2, J_fr) (seeded uniform stand-ins:
the back end's cost does not depend on the values); (b) feature extraction is
timed apart with the NumPy ``modspec.features.scattering.jtfs_tensor`` on
``--feature-clips`` clips per call, on the CPU whatever ``--device``.

Run from the repository root::

    python -m benchmarks.compare_models                       # 3 steps per model -> benchmarks/results_models.json
    python -m benchmarks.compare_models --models dieleman2014 modnet --rounds 10
    python -m benchmarks.compare_models --device cuda         # on the GPU

The default run takes about 3 to 5 minutes on a 2-core CPU (harmoniccnn and
tmnn take ~10 s a step there). Speed is reported, never asserted.
"""

import argparse
import gc
import os
import sys
import time
from pathlib import Path

import numpy as np

try:  # python -m benchmarks.compare_models
    from benchmarks.benchmarks.common import SEED
    from benchmarks.benchmarks.models import (
        BATCH,
        LEARNING_RATE,
        PRECOMPUTED,
        TrainStep,
        jtfs_options,
    )
    from benchmarks.compare import (
        _BackgroundLoad,
        _summary,
        machine_info,
        machine_line,
        write_result,
    )
except ImportError:  # python benchmarks/compare_models.py
    from compare import (
        _BackgroundLoad,
        _summary,
        machine_info,
        machine_line,
        write_result,
    )

    from benchmarks.common import SEED
    from benchmarks.models import (
        BATCH,
        LEARNING_RATE,
        PRECOMPUTED,
        TrainStep,
        jtfs_options,
    )

DEFAULT_ROUNDS = 3
#: Keep timing a model's steps until they add up to this many seconds (fast models get more steps).
DEFAULT_MIN_TIME = 2.0
#: Clips per call of the NumPy jTFS feature extraction (about 4 s a clip on a 2-core CPU).
DEFAULT_FEATURE_CLIPS = 2
DEFAULT_OUT = Path(__file__).resolve().parent / "results_models.json"
#: Average busy cores of other processes above which the run is flagged as unreliable.
BACKGROUND_WARN_CORES = 0.15
STEP_LABELS = {
    "model": "whole model: waveform -> front end -> back end",
    "backend": "back end only, on precomputed JTFSTensor features",
}


def _json_value(value):
    """Tuples as lists, so that the result survives a JSON round trip unchanged."""
    if isinstance(value, (tuple, list)):
        return [_json_value(v) for v in value]
    return value


def time_steps(step, *, rounds, min_time):
    """Seconds of each call of ``step()``: at least ``rounds`` calls, more until they add up to ``min_time``."""
    times = []
    while len(times) < rounds or sum(times) < min_time:
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    return times


def measure_model(name, *, options=None, batch=BATCH, device="cpu", rounds=DEFAULT_ROUNDS,
                  min_time=DEFAULT_MIN_TIME, warmup=1):
    """One model's training step, timed; a JSON-able dict.

    Returns
    -------
    dict
        ``{"step": 'model' | 'backend', "step_label", "options", "n_samples", "sample_rate",
        "clip_seconds", "loss", "parameters", "input_shape", "batch", "median_s", "min_s",
        "q1_s", "q3_s", "rounds", "times_s", "throughput" (clip seconds per wall second),
        "clips_per_s", "audio_seconds_per_s"}``.
    """
    train = TrainStep(name, options=options, batch=batch, device=device, warmup=warmup)
    kind = "backend" if train.precomputed else "model"
    times = time_steps(train.step, rounds=rounds, min_time=min_time)
    stats = _summary(times, batch * train.clip_seconds)
    model = train.model
    entry = {
        "step": kind, "step_label": STEP_LABELS[kind],
        "options": {k: _json_value(v) for k, v in (options or {}).items()},
        "n_samples": model.n_samples, "sample_rate": model.sample_rate, "clip_seconds": train.clip_seconds,
        "loss": model.loss, "parameters": sum(p.numel() for p in train.network.parameters()),
        "input_shape": list(train.inputs.shape), "batch": batch, **stats,
        "clips_per_s": batch / stats["median_s"], "audio_seconds_per_s": stats["throughput"],
    }
    return entry


def measure_jtfs_features(*, options=None, clips=DEFAULT_FEATURE_CLIPS, rounds=DEFAULT_ROUNDS):
    """``jtfs_packnet``'s feature extraction with the NumPy ``jtfs_tensor``, on the CPU; a JSON-able dict.

    One untimed call (numba compilation, filter plans), then ``rounds`` timed
    calls on ``clips`` clips of seeded noise of the model's window.
    """
    from modspec.features.scattering import jtfs_tensor
    from modspec.models import build

    model = build(PRECOMPUTED, **(options or {}))
    jtfs = jtfs_options(options)
    rng = np.random.default_rng(SEED)
    y = (0.1 * rng.standard_normal((clips, model.n_samples))).astype(np.float32)
    out = jtfs_tensor(y, **jtfs)
    times = time_steps(lambda: jtfs_tensor(y, **jtfs), rounds=rounds, min_time=0.0)
    stats = _summary(times, clips * model.n_samples / model.sample_rate)
    return {
        "function": "modspec.features.scattering.jtfs_tensor (NumPy, numba kernels)", "device": "cpu",
        "options": {k: _json_value(v) for k, v in jtfs.items()}, "clips": clips,
        "clip_seconds": model.n_samples / model.sample_rate, "input_shape": list(y.shape),
        "output_shape": list(out.shape), **stats,
        "clips_per_s": clips / stats["median_s"], "audio_seconds_per_s": stats["throughput"],
    }


def measure(models=None, *, batch=BATCH, device="cpu", rounds=DEFAULT_ROUNDS, min_time=DEFAULT_MIN_TIME,
            feature_clips=DEFAULT_FEATURE_CLIPS, options=None):
    """Time the training step of every model (and jtfs_packnet's features); the result as a JSON-able dict.

    Parameters
    ----------
    models : sequence of str or None
        Names of ``modspec.models.available()``; None: all of them.
    batch : int > 0
        Clips per step.
    device : str
        'cpu' or a CUDA device ('cuda', 'cuda:1').
    rounds : int > 0
        Timed steps per model, at least.
    min_time : float >= 0
        Seconds the timed steps of a model add up to, at least.
    feature_clips : int >= 0
        Clips per call of jtfs_packnet's feature extraction; 0 skips it.
    options : dict of str to dict, optional
        Model options that replace the defaults, by model name (tests use it
        to shrink jtfs_packnet); recorded per model.

    Returns
    -------
    dict
        ``{"date", "machine", "device": {"type", "name"}, "settings", "notes",
        "models": {name: measure_model(...)}, "features": {"jtfs_packnet": measure_jtfs_features(...)}}``;
        ``features`` is empty unless jtfs_packnet is among the models and ``feature_clips`` > 0.

    Raises
    ------
    modspec.ParameterError
        An unknown model name, a non-positive ``batch`` or ``rounds``, or a
        CUDA device that torch does not see.
    """
    import datetime

    import torch

    import modspec.models as mm
    from modspec.errors import ParameterError

    names = mm.available() if models is None else list(models)
    unknown = [n for n in names if n not in mm.available()]
    if unknown:
        raise ParameterError(f"models={unknown} are not models; available: {', '.join(mm.available())}")
    for arg, value, low in (("batch", batch, 1), ("rounds", rounds, 1), ("feature_clips", feature_clips, 0)):
        if int(value) != value or value < low:
            raise ParameterError(f"{arg}={value!r} must be an integer >= {low}")
    if not min_time >= 0:
        raise ParameterError(f"min_time={min_time!r} must be a number of seconds >= 0")
    asked = str(device)
    try:
        device = torch.device(device)
    except (RuntimeError, TypeError):
        device = None
    if device is None or device.type not in ("cpu", "cuda"):
        raise ParameterError(f"device={asked!r} must be 'cpu' or a CUDA device ('cuda', 'cuda:0', ...)")
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ParameterError(f"device={asked!r}: torch sees no CUDA device; use 'cpu'")
    options = options or {}
    warmup = 3 if device.type == "cuda" else 1  # a GPU's first steps also pick kernels (cuDNN)
    machine = machine_info({"torch": torch})
    # The figures name what ran them: the GPU, or the CPU model.
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else (machine["cpu_model"] or "CPU")
    result = {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": machine,
        "device": {"type": device.type, "name": name},
        "settings": {
            "batch": int(batch), "rounds": int(rounds), "min_time_s": float(min_time), "warmup_steps": warmup,
            "optimizer": f"Adam(lr={LEARNING_RATE:g})", "dtype": "float32", "seed": SEED,
            "feature_clips": int(feature_clips),
            "statistic": "median seconds per step; clips/s = batch / median; clip s/s = clips/s x clip length",
        },
        "notes": [],
        "models": {},
        "features": {},
    }
    if device.type == "cuda":
        machine["versions"]["cuda"] = torch.version.cuda
    load = _BackgroundLoad()
    for name in names:
        result["models"][name] = measure_model(
            name, options=options.get(name), batch=int(batch), device=device, rounds=int(rounds),
            min_time=float(min_time), warmup=warmup,
        )
        gc.collect()  # free one model's activations before the next is built
        if device.type == "cuda":
            torch.cuda.empty_cache()
    if PRECOMPUTED in names and feature_clips > 0:
        result["features"][PRECOMPUTED] = measure_jtfs_features(
            options=options.get(PRECOMPUTED), clips=int(feature_clips), rounds=int(rounds)
        )
    result["machine"]["background_load"] = background = load.stop()
    if background["cores"] is not None and background["cores"] > BACKGROUND_WARN_CORES:
        result["notes"].append(
            f"other processes kept {background['cores']:.2f} cores busy on average during the run: "
            "these timings are unreliable; rerun on a quiet machine"
        )
        if device.type == "cpu" and not os.environ.get("OMP_WAIT_POLICY"):
            result["notes"].append(
                "torch's OpenMP threads spin while waiting with OMP_WAIT_POLICY unset, and lose most under "
                "competing processes; OMP_WAIT_POLICY=PASSIVE makes them robust to it (benchmarks/README.md)"
            )
    return result


def format_table(result):
    """The result as a plain-text table."""
    device, settings = result["device"], result["settings"]
    lines = [(
        f"training step on {device['type']} ({device['name']}): batch {settings['batch']}, {settings['optimizer']}, "
        f"median of >= {settings['rounds']} steps (>= {settings['min_time_s']:g} s) after "
        f"{settings['warmup_steps']} warm-up step(s)"
    )]
    head = (f"{'model':<13} {'trains':<9} {'clip s':>6} {'parameters':>11} {'steps':>5} {'s/step':>8} "
            f"{'IQR s':>13} {'clips/s':>8} {'clip s/s':>9}")
    lines += [head, "-" * len(head)]
    for name, e in result["models"].items():
        iqr = f"{e['q1_s']:.3f}-{e['q3_s']:.3f}"
        lines.append(
            f"{name:<13} {e['step']:<9} {e['clip_seconds']:>6.2f} {e['parameters']:>11,} {e['rounds']:>5} "
            f"{e['median_s']:>8.3f} {iqr:>13} {e['clips_per_s']:>8.2f} {e['audio_seconds_per_s']:>9.1f}"
        )
    lines.append("trains: 'model' = whole model from the waveform; 'backend' = back end on precomputed "
                 "JTFSTensor features (batch, N, J2, J_fr), front end not run")
    for name, f in result["features"].items():
        lines.append(
            f"{name} features, NumPy jtfs_tensor on the CPU, {f['clips']} clip(s) of {f['clip_seconds']:.2f} s "
            f"per call: {f['median_s']:.2f} s/call, {f['clips_per_s']:.2f} clips/s, "
            f"{f['audio_seconds_per_s']:.2f} clip s/s (median of {f['rounds']})"
        )
    background = result["machine"].get("background_load", {}).get("cores")
    if background is not None:
        lines.append(f"other processes' CPU use during the run: {background:.2f} cores on average")
    lines += [f"note: {note}" for note in result["notes"]]
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.compare_models", description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", default=None, metavar="NAME",
                        help="models to time (default: every model of modspec.models.available())")
    parser.add_argument("--batch", type=int, default=BATCH, help=f"clips per step (default {BATCH})")
    parser.add_argument("--rounds", type=int, default=DEFAULT_ROUNDS,
                        help=f"timed steps per model, at least (default {DEFAULT_ROUNDS})")
    parser.add_argument("--min-time", type=float, default=DEFAULT_MIN_TIME,
                        help=f"time a model's steps until they add up to this many seconds (default {DEFAULT_MIN_TIME:g})")
    parser.add_argument("--feature-clips", type=int, default=DEFAULT_FEATURE_CLIPS,
                        help=f"clips per call of jtfs_packnet's NumPy feature extraction; 0 skips it "
                             f"(default {DEFAULT_FEATURE_CLIPS})")
    parser.add_argument("--device", default="cpu", help="'cpu' (default) or 'cuda' ('cuda:1', ...)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="JSON output (default benchmarks/results_models.json)")
    args = parser.parse_args(argv)
    from modspec.errors import ParameterError

    try:
        result = measure(args.models, batch=args.batch, device=args.device, rounds=args.rounds,
                         min_time=args.min_time, feature_clips=args.feature_clips)
    except ParameterError as exc:
        parser.error(str(exc))
    print(machine_line(result["machine"]))
    print(format_table(result))
    write_result(result, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
