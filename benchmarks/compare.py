"""modspec against librosa and torch, side by side, in one process.

Times ``stft`` and ``melspectrogram`` (16 kHz, n_fft 512, hop 256, 96 mels,
float32) of modspec, librosa and plain torch on the same seeded noise, after
warm-up, interleaving the libraries round-robin so that the machine's noise
falls on all of them alike, and reports the median time per call as seconds of
audio per second, modspec's speed-up over each peer and the parity error
``max|a - b| / max|b|`` against librosa.

Run from the repository root::

    python -m benchmarks.compare                 # 30 rounds, writes benchmarks/results.json
    python -m benchmarks.compare --quick         # a smoke run (3 rounds)
    python benchmarks/compare.py --rounds 50 --out /tmp/results.json

A missing librosa or torch is skipped with a note. The script never fails
because of speed; the "bars" it prints are information, not a test.
"""

import argparse
import contextlib
import datetime
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np

# The asv suite's parameters, so both measure the same thing.
try:  # python -m benchmarks.compare (the repository root on sys.path)
    from benchmarks.benchmarks.common import DTYPE, HOP_LENGTH, INPUTS, N_FFT, N_MELS, SEED, SR
except ImportError:  # python benchmarks/compare.py (benchmarks/ itself on sys.path)
    from benchmarks.common import DTYPE, HOP_LENGTH, INPUTS, N_FFT, N_MELS, SEED, SR
OPERATIONS = ("stft", "melspectrogram")
LIBRARIES = ("modspec", "librosa", "torch")
DEFAULT_ROUNDS = 30
QUICK_ROUNDS = 3
WARMUP = 2
#: melspectrogram throughput bars: modspec at least this many times the peer's.
BARS = {"librosa": 2.0, "torch": 1.0}
DEFAULT_OUT = Path(__file__).resolve().parent / "results.json"
#: Environment variables that change how the libraries' threads behave (recorded in the JSON).
#: Average busy cores of other processes above which the run is flagged as unreliable.
BACKGROUND_WARN_CORES = 0.15
THREAD_ENV = ("OMP_NUM_THREADS", "OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS")


def make_inputs(shapes=None, *, seed=SEED):
    """Seeded float32 noise for every named shape (``INPUTS`` by default)."""
    shapes = INPUTS if shapes is None else shapes
    rng = np.random.default_rng(seed)
    return {name: (0.1 * rng.standard_normal(shape)).astype(DTYPE) for name, shape in shapes.items()}


def _import_peers():
    """The importable peers as modules, and a note for each one that is missing."""
    peers, notes = {}, []
    try:
        import librosa
    except ImportError as exc:
        notes.append(f"librosa skipped: not importable ({exc}); install modspec[bench]")
    else:
        peers["librosa"] = librosa
    try:
        import torch
    except ImportError as exc:
        notes.append(f"torch skipped: not importable ({exc}); install modspec[torch]")
    else:
        peers["torch"] = torch
    return peers, notes


def build_callables(peers):
    """``{operation: {library: f(y)}}`` with every parameter spelled out.

    torch gets what a torch front end would hold: the Hann window and the mel
    matrix (from ``modspec.filters.mel``) built once, outside the timing.
    """
    from modspec import features, filters

    ops = {op: {} for op in OPERATIONS}
    ops["stft"]["modspec"] = lambda y: features.stft(
        y, n_fft=N_FFT, hop_length=HOP_LENGTH, window="hann", center=True, pad_mode="constant"
    )
    ops["melspectrogram"]["modspec"] = lambda y: features.melspectrogram(
        y, sr=SR, n_fft=N_FFT, hop_length=HOP_LENGTH, window="hann", center=True, pad_mode="constant",
        power=2.0, n_mels=N_MELS,
    )
    if "librosa" in peers:
        librosa = peers["librosa"]
        ops["stft"]["librosa"] = lambda y: librosa.stft(
            y, n_fft=N_FFT, hop_length=HOP_LENGTH, window="hann", center=True, pad_mode="constant"
        )
        ops["melspectrogram"]["librosa"] = lambda y: librosa.feature.melspectrogram(
            y=y, sr=SR, n_fft=N_FFT, hop_length=HOP_LENGTH, window="hann", center=True, pad_mode="constant",
            power=2.0, n_mels=N_MELS,
        )
    if "torch" in peers:
        torch = peers["torch"]
        window = torch.hann_window(N_FFT, dtype=torch.float32)
        mel_fb = torch.tensor(np.array(filters.mel(sr=SR, n_fft=N_FFT, n_mels=N_MELS, dtype=DTYPE)))

        def torch_stft(y):
            return torch.stft(
                torch.from_numpy(y), n_fft=N_FFT, hop_length=HOP_LENGTH, window=window, center=True,
                pad_mode="constant", return_complex=True,
            )

        def torch_mel(y):
            X = torch_stft(y)
            return torch.matmul(mel_fb, X.real**2 + X.imag**2)

        ops["stft"]["torch"] = torch_stft
        ops["melspectrogram"]["torch"] = torch_mel
    return ops


def parity_error(a, b):
    """``max|a - b| / max|b|`` (complex values by modulus)."""
    a = a.numpy() if hasattr(a, "numpy") else np.asarray(a)
    b = np.asarray(b)
    if a.shape != b.shape:
        raise ValueError(f"shapes differ: {a.shape} vs {b.shape}")
    return float(np.max(np.abs(a - b)) / np.max(np.abs(b)))


def time_round_robin(funcs, y, *, rounds, warmup=WARMUP):
    """Warm every function up, then time them interleaved; the last warm-up outputs.

    Each round calls every library once; the starting library rotates from
    round to round so that none always runs right after the same neighbour.
    """
    outputs = {}
    for name, f in funcs.items():
        for _ in range(warmup):
            outputs[name] = f(y)
    names = list(funcs)
    times = {name: [] for name in names}
    for r in range(rounds):
        k = r % len(names)
        for name in names[k:] + names[:k]:
            t0 = time.perf_counter()
            f = funcs[name](y)
            times[name].append(time.perf_counter() - t0)
            del f
    return times, outputs


def _summary(samples, audio_seconds):
    median = statistics.median(samples)
    q = np.percentile(samples, [25, 75]) if len(samples) > 1 else (samples[0], samples[0])
    return {
        "median_s": median,
        "min_s": min(samples),
        "q1_s": float(q[0]),
        "q3_s": float(q[1]),
        "rounds": len(samples),
        "throughput": audio_seconds / median,
        "times_s": [float(t) for t in samples],
    }


def machine_info(peers):
    """Platform, CPU, core counts and library versions."""
    import numba
    import scipy

    import modspec

    cpu_model = platform.processor() or None
    with contextlib.suppress(OSError):
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu_model = line.split(":", 1)[1].strip()
                    break
    versions = {
        "python": platform.python_version(),
        "modspec": getattr(modspec, "__version__", None),
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "numba": numba.__version__,
    }
    info = {
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu_model": cpu_model,
        "cpu_count": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "numba_threads": numba.config.NUMBA_NUM_THREADS,
        "thread_env": {k: os.environ.get(k) for k in THREAD_ENV},
        "versions": versions,
    }
    for name, module in peers.items():
        versions[name] = module.__version__
    if "torch" in peers:
        info["torch_threads"] = peers["torch"].get_num_threads()
    return info


def measure(inputs=None, *, rounds=DEFAULT_ROUNDS, warmup=WARMUP, operations=OPERATIONS):
    """Time and check every operation on every input; the result as a JSON-able dict.

    Parameters
    ----------
    inputs : dict of str to np.ndarray, optional
        Named float32 signals (..., n_samples) at 16 kHz; ``make_inputs()`` by default.
    rounds : int >= 1
        Round-robin rounds (timed calls per library).
    warmup : int >= 1
        Untimed calls per library before the rounds (at least one is made: its
        output gives the parity).
    operations : sequence of {'stft', 'melspectrogram'}

    Returns
    -------
    dict
        ``{"date", "machine", "settings", "notes", "inputs": {name: {"shape",
        "audio_seconds", "operations": {op: {"libraries": {lib: {"median_s",
        "throughput", "times_s", ...}}, "ratio": {peer: peer_time / modspec_time},
        "parity": {"modspec_vs_librosa", "torch_vs_librosa"}}}}}, "bars"}``.
        Throughput is seconds of audio per second of computation.
    """
    if int(rounds) < 1:
        raise ValueError(f"rounds={rounds} must be at least 1")
    inputs = make_inputs() if inputs is None else inputs
    warmup = max(int(warmup), 1)
    peers, notes = _import_peers()
    ops = build_callables(peers)
    grad_off = peers["torch"].inference_mode() if "torch" in peers else contextlib.nullcontext()
    result = {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": machine_info(peers),
        "settings": {
            "sr": SR, "n_fft": N_FFT, "hop_length": HOP_LENGTH, "n_mels": N_MELS, "dtype": np.dtype(DTYPE).name,
            "center": True, "pad_mode": "constant", "window": "hann", "power": 2.0,
            "rounds": int(rounds), "warmup": warmup, "statistic": "median seconds per call, round-robin",
        },
        "notes": notes,
        "inputs": {},
    }
    load = _BackgroundLoad()
    with grad_off:
        for name, y in inputs.items():
            audio_seconds = y.size / SR
            entry = {"shape": list(y.shape), "audio_seconds": audio_seconds, "operations": {}}
            for op in operations:
                times, outputs = time_round_robin(ops[op], y, rounds=int(rounds), warmup=warmup)
                libs = {lib: _summary(times[lib], audio_seconds) for lib in times}
                base = libs["modspec"]["median_s"]
                ratio = {lib: libs[lib]["median_s"] / base for lib in libs if lib != "modspec"}
                parity = {"modspec_vs_librosa": None, "torch_vs_librosa": None}
                if "librosa" in outputs:
                    parity["modspec_vs_librosa"] = parity_error(outputs["modspec"], outputs["librosa"])
                    if "torch" in outputs:
                        parity["torch_vs_librosa"] = parity_error(outputs["torch"], outputs["librosa"])
                entry["operations"][op] = {"libraries": libs, "ratio": ratio, "parity": parity}
                del outputs
            result["inputs"][name] = entry
    result["machine"]["background_load"] = background = load.stop()
    if background["cores"] is not None and background["cores"] > BACKGROUND_WARN_CORES:
        notes.append(
            f"other processes kept {background['cores']:.2f} cores busy on average during the run "
            f"({os.cpu_count()} cores): these timings are unreliable; rerun on a quiet machine"
        )
        if "torch" in peers and not os.environ.get("OMP_WAIT_POLICY"):
            notes.append(
                "torch's OpenMP threads are especially hurt by competing processes with OMP_WAIT_POLICY unset "
                "(see benchmarks/README.md); OMP_WAIT_POLICY=PASSIVE makes them robust to it"
            )
    result["bars"] = check_bars(result)
    return result


class _BackgroundLoad:
    """CPU time that other processes used since construction (Linux: /proc/stat), in cores.

    All busy time of the machine minus this process's own CPU time, divided by
    the wall time. None where /proc/stat is unavailable.
    """

    def __init__(self):
        self.busy0, self.own0, self.wall0 = self._busy(), self._own(), time.perf_counter()

    @staticmethod
    def _busy():
        try:
            with open("/proc/stat") as fh:
                fields = fh.readline().split()
        except OSError:
            return None
        user, nice, system, _idle, _iowait, irq, softirq = (int(v) for v in fields[1:8])
        return (user + nice + system + irq + softirq) / os.sysconf("SC_CLK_TCK")

    @staticmethod
    def _own():
        t = os.times()
        return t.user + t.system

    def stop(self):
        busy, wall = self._busy(), time.perf_counter() - self.wall0
        if busy is None or self.busy0 is None:
            return {"cpu_s": None, "wall_s": wall, "cores": None}
        other = max(0.0, (busy - self.busy0) - (self._own() - self.own0))
        return {"cpu_s": other, "wall_s": wall, "cores": other / wall if wall > 0 else None}


def check_bars(result):
    """Whether melspectrogram throughput is >= 2x librosa's and >= 1x torch's on every input.

    A peer that was not measured gives None (neither held nor failed).
    """
    bars = {"requirement": {peer: f"melspectrogram throughput >= {k:g}x {peer}" for peer, k in BARS.items()}}
    per_input, verdicts = {}, []
    for name, entry in result["inputs"].items():
        op = entry["operations"].get("melspectrogram")
        if op is None:
            continue
        per_input[name] = {}
        for peer, k in BARS.items():
            ratio = op["ratio"].get(peer)
            held = None if ratio is None else bool(ratio >= k)
            per_input[name][peer] = {"ratio": ratio, "bar": k, "held": held}
            verdicts.append(held)
    bars["inputs"] = per_input
    bars["all_held"] = None if not verdicts or None in verdicts else all(verdicts)
    return bars


def format_table(result):
    """The result as a plain-text table, plus the bars."""
    lines = []
    head = (
        f"{'input':<12} {'operation':<15} {'library':<8} {'median ms':>10} {'IQR ms':>15} "
        f"{'audio s/s':>10} {'modspec x':>10} {'err vs librosa':>15}"
    )
    lines += [head, "-" * len(head)]
    for name, entry in result["inputs"].items():
        for op, data in entry["operations"].items():
            for lib, s in data["libraries"].items():
                speedup = "" if lib == "modspec" else f"{data['ratio'][lib]:.2f}"
                err = data["parity"].get(f"{lib}_vs_librosa")
                err = "" if err is None else f"{err:.1e}"
                iqr = f"{1e3 * s['q1_s']:.2f}-{1e3 * s['q3_s']:.2f}"
                lines.append(
                    f"{name:<12} {op:<15} {lib:<8} {1e3 * s['median_s']:>10.2f} {iqr:>15} "
                    f"{s['throughput']:>10.0f} {speedup:>10} {err:>15}"
                )
    lines.append("")
    lines.append("'modspec x' = peer median time / modspec median time (above 1: modspec is faster).")
    lines.append("bars (melspectrogram):")
    for name, per_peer in result["bars"]["inputs"].items():
        for peer, b in per_peer.items():
            if b["held"] is None:
                lines.append(f"  {name:<12} >= {b['bar']:g}x {peer:<8} not measured")
            else:
                lines.append(
                    f"  {name:<12} >= {b['bar']:g}x {peer:<8} {b['ratio']:.2f}x  {'holds' if b['held'] else 'FAILS'}"
                )
    verdict = {True: "all bars hold", False: "some bars fail", None: "bars not fully measured"}
    lines.append(f"  -> {verdict[result['bars']['all_held']]}")
    background = result["machine"].get("background_load", {}).get("cores")
    if background is not None:
        lines.append(f"other processes' CPU use during the run: {background:.2f} cores on average")
    for note in result["notes"]:
        lines.append(f"note: {note}")
    return "\n".join(lines)


def machine_line(m):
    """One line naming the CPU, its usable cores and the library versions of a :func:`machine_info`."""
    return f"{m['cpu_model']}, {m['cpus_usable']} usable CPUs; " + ", ".join(f"{k} {v}" for k, v in m["versions"].items())


def write_result(result, out):
    """Write a comparison's result as JSON to ``out`` (creating its folder) and say where."""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out}")


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.compare", description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=None, help=f"round-robin rounds (default {DEFAULT_ROUNDS})")
    parser.add_argument("--quick", action="store_true", help=f"smoke run: {QUICK_ROUNDS} rounds unless --rounds")
    parser.add_argument("--warmup", type=int, default=WARMUP, help=f"untimed calls per library (default {WARMUP})")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="JSON output (default benchmarks/results.json)")
    args = parser.parse_args(argv)
    rounds = args.rounds if args.rounds is not None else (QUICK_ROUNDS if args.quick else DEFAULT_ROUNDS)
    if rounds < 1:
        parser.error(f"--rounds={rounds} must be at least 1")
    print(machine_line(machine_info(_import_peers()[0])))
    print(f"{rounds} rounds, {args.warmup} warm-up calls; sr {SR}, n_fft {N_FFT}, hop {HOP_LENGTH}, {N_MELS} mels, float32")
    result = measure(rounds=rounds, warmup=args.warmup)
    result["settings"]["quick"] = bool(args.quick)
    print(format_table(result))
    write_result(result, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
