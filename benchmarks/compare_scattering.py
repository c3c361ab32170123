"""modspec's time scattering and joint time-frequency scattering against kymatio.

Two sections, on seeded float32 noise (parameters in
``benchmarks/benchmarks/scattering.py``, shared with the asv suite):

- ``scattering``: ``modspec.features.scattering.scattering`` against kymatio
  0.3.0's ``Scattering1D`` (the NumPy and the torch frontends, imported
  directly: ``import kymatio.numpy`` fails with current SciPy), J=8, Q=8,
  second order, on 4 x 65536 samples. Bar: modspec at least 3x faster than the
  faster kymatio frontend.
- ``jtfs``: ``modspec.features.scattering.jtfs`` against the
  ``TimeFrequencyScattering`` of kymatio's development branch (0.4.0.dev0;
  its NumPy frontend and, where it exists, its torch frontend), J=6, J_fr=2,
  Q=(8, 2), format 'time', on 4 x 16384 samples. It is not on PyPI: give a
  checkout with ``KYMATIO_DEV=/path/to/kymatio``; without it the section is
  skipped. Bar: modspec at least 10x faster than the fastest kymatio frontend.

The two kymatio versions cannot share a process (both are the package
``kymatio``), so the ``jtfs`` section runs in a subprocess with
``$KYMATIO_DEV`` first on its ``sys.path`` (checked: ``kymatio.__version__``
must start with '0.4' and come from that folder); it times modspec there too,
so the libraries of a section are always timed in one process, and sends its
numbers back as JSON. In each section every library is called once to warm up
(numba compilation, filter plans, torch's first call), then the libraries are
timed interleaved round-robin and the median is reported. torch runs under
``inference_mode``. The outputs of the warm-up calls give the parity
``max|a - b| / max|b|`` against kymatio's NumPy output, so the timing is known
to compare the same numbers.

Run from the repository root::

    python -m benchmarks.compare_scattering                   # 10 rounds -> benchmarks/results_scattering.json
    KYMATIO_DEV=/path/to/kymatio python -m benchmarks.compare_scattering --quick   # 3 rounds, both sections

Speed is reported, never asserted; a missing kymatio or torch is skipped with a note.
"""

import argparse
import contextlib
import datetime
import json
import os
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np

try:  # python -m benchmarks.compare_scattering
    from benchmarks.benchmarks.common import SR
    from benchmarks.benchmarks.scattering import (
        JTFS_PARAMS,
        JTFS_SHAPE,
        SCATTERING_PARAMS,
        SCATTERING_SHAPE,
        make_signals,
    )
    from benchmarks.compare import (
        _BackgroundLoad,
        _summary,
        machine_info,
        machine_line,
        parity_error,
        time_round_robin,
        write_result,
    )
except ImportError:  # python benchmarks/compare_scattering.py
    from compare import (
        _BackgroundLoad,
        _summary,
        machine_info,
        machine_line,
        parity_error,
        time_round_robin,
        write_result,
    )

    from benchmarks.common import SR
    from benchmarks.scattering import (
        JTFS_PARAMS,
        JTFS_SHAPE,
        SCATTERING_PARAMS,
        SCATTERING_SHAPE,
        make_signals,
    )

REPO = Path(__file__).resolve().parents[1]
DEFAULT_ROUNDS = 10
QUICK_ROUNDS = 3
WARMUP = 1
DTYPE = "float32"
#: modspec at least this many times faster than the fastest kymatio frontend of the section.
BARS = {"scattering": 3.0, "jtfs": 10.0}
#: What each section computes: transform parameters and input shape (``main`` and the tests may change them).
CASES = {
    "scattering": {"params": dict(SCATTERING_PARAMS), "shape": list(SCATTERING_SHAPE), "dtype": DTYPE},
    "jtfs": {"params": dict(JTFS_PARAMS, Q=list(JTFS_PARAMS["Q"])), "shape": list(JTFS_SHAPE), "dtype": DTYPE},
}
SECTIONS = ("scattering", "jtfs")
PEERS = ("kymatio_numpy", "kymatio_torch")
DEFAULT_OUT = Path(__file__).resolve().parent / "results_scattering.json"
KYMATIO_DEV_ENV = "KYMATIO_DEV"


def _params(case):
    """The case's parameters with ``Q`` as a tuple (JSON has lists; kymatio wants an int or a tuple)."""
    params = dict(case["params"])
    if isinstance(params.get("Q"), list):
        params["Q"] = tuple(params["Q"])
    return params


def _import_torch(notes):
    try:
        import torch
    except ImportError as exc:
        notes.append(f"kymatio's torch frontend skipped: torch is not importable ({exc})")
        return None
    return torch


def _scattering_callables(case, notes):
    """modspec and kymatio 0.3.0 ``Scattering1D`` callables, and kymatio's version (None if missing)."""
    from modspec.features.scattering import scattering

    params = _params(case)
    n_samples = int(case["shape"][-1])
    funcs = {"modspec": lambda y: scattering(y, **params)}
    try:
        import kymatio
    except ImportError as exc:
        notes.append(f"scattering: kymatio skipped: not importable ({exc}); install modspec[bench] (kymatio==0.3.0)")
        return funcs, None, None
    if kymatio.__version__ != "0.3.0":
        notes.append(f"scattering: kymatio skipped: the comparison is pinned to kymatio 0.3.0, found "
                     f"{kymatio.__version__} ({kymatio.__file__})")
        return funcs, None, None
    from kymatio.scattering1d.frontend.numpy_frontend import ScatteringNumPy1D

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        numpy_frontend = ScatteringNumPy1D(shape=n_samples, **params)
    funcs["kymatio_numpy"] = numpy_frontend.scattering
    torch = _import_torch(notes)
    if torch is not None:
        from kymatio.scattering1d.frontend.torch_frontend import ScatteringTorch1D

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch_frontend = ScatteringTorch1D(shape=n_samples, **params)
        funcs["kymatio_torch"] = lambda y: torch_frontend.scattering(torch.from_numpy(y))
    return funcs, kymatio, torch


def _jtfs_callables(case, notes, kymatio_dev):
    """modspec and kymatio dev ``TimeFrequencyScattering`` callables; imports kymatio from ``kymatio_dev``.

    Only in a process of its own (the ``--worker jtfs`` subprocess): kymatio
    0.3.0 must not have been imported before.
    """
    from modspec.features.scattering import jtfs

    params = _params(case)
    n_samples = int(case["shape"][-1])
    funcs = {"modspec": lambda y: jtfs(y, **params)}
    if "kymatio" in sys.modules:
        raise RuntimeError("kymatio is already imported in this process; the jtfs section needs a fresh one")
    folder = str(Path(kymatio_dev).resolve())
    sys.path.insert(0, folder)
    try:
        import kymatio
    except ImportError as exc:
        return funcs, None, None, f"{KYMATIO_DEV_ENV}={kymatio_dev}: kymatio is not importable ({exc})"
    found = Path(kymatio.__file__).resolve()
    if not kymatio.__version__.startswith("0.4") or Path(folder) not in found.parents:
        return funcs, None, None, (
            f"{KYMATIO_DEV_ENV}={kymatio_dev} does not hold kymatio's development branch: imported kymatio "
            f"{kymatio.__version__} from {found.parent} (need a 0.4 checkout, the folder holding kymatio/)"
        )
    from kymatio.scattering1d.frontend import numpy_frontend

    if not hasattr(numpy_frontend, "TimeFrequencyScatteringNumPy"):
        return funcs, None, None, f"kymatio {kymatio.__version__} at {found.parent} has no TimeFrequencyScatteringNumPy"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        frontend = numpy_frontend.TimeFrequencyScatteringNumPy(shape=n_samples, format="time", **params)
    funcs["kymatio_numpy"] = frontend.scattering
    torch = _import_torch(notes)
    if torch is not None:
        from kymatio.scattering1d.frontend import torch_frontend

        if hasattr(torch_frontend, "TimeFrequencyScatteringTorch"):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                tf_torch = torch_frontend.TimeFrequencyScatteringTorch(shape=n_samples, format="time", **params)
            funcs["kymatio_torch"] = lambda y: tf_torch.scattering(torch.from_numpy(y))
        else:
            notes.append(f"jtfs: kymatio {kymatio.__version__} has no TimeFrequencyScatteringTorch; torch skipped")
    return funcs, kymatio, torch, None


def _to_numpy(x):
    return x.numpy() if hasattr(x, "numpy") else np.asarray(x)


def _parities(outputs):
    """``max|a - b| / max|b|`` of every output against kymatio's NumPy output (else its torch output)."""
    reference = next((lib for lib in PEERS if lib in outputs), None)
    if reference is None:
        return {}
    ref = _to_numpy(outputs[reference]).astype(np.float64)
    parity = {}
    for lib, out in outputs.items():
        if lib != reference:
            try:
                parity[f"{lib}_vs_{reference}"] = parity_error(_to_numpy(out).astype(np.float64), ref)
            except ValueError as exc:  # shapes differ: not the same transform
                parity[f"{lib}_vs_{reference}"] = None
                parity[f"{lib}_vs_{reference}_error"] = str(exc)
    return parity


def measure_section(section, case, *, rounds, warmup=WARMUP, kymatio_dev=None):
    """Time one section in this process; the result as a JSON-able dict.

    ``section='jtfs'`` imports kymatio from ``kymatio_dev`` and must run in a
    process that has not imported kymatio (see :func:`measure`).
    """
    notes = []
    if section == "scattering":
        funcs, kymatio, torch = _scattering_callables(case, notes)
        skipped = None
    elif section == "jtfs":
        funcs, kymatio, torch, skipped = _jtfs_callables(case, notes, kymatio_dev)
    else:
        raise ValueError(f"unknown section {section!r}; use one of {SECTIONS}")
    entry = {
        "params": case["params"], "shape": list(case["shape"]), "dtype": case["dtype"],
        "audio_seconds": float(np.prod(case["shape"]) / SR), "kymatio_version": None, "kymatio_path": None,
        "skipped": skipped, "notes": notes,
    }
    if skipped is not None:
        return entry
    if kymatio is not None:
        entry["kymatio_version"], entry["kymatio_path"] = kymatio.__version__, str(Path(kymatio.__file__).parent)
    y = make_signals(tuple(case["shape"]), np.dtype(case["dtype"]))
    grad_off = torch.inference_mode() if torch is not None else contextlib.nullcontext()
    load = _BackgroundLoad()
    with grad_off, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        times, outputs = time_round_robin(funcs, y, rounds=int(rounds), warmup=max(int(warmup), 1))
    entry["background_load"] = load.stop()
    for message in sorted({f"{w.category.__name__}: {w.message}" for w in caught}):
        notes.append(f"{section}: warning during the run: {message}")
    libs = {lib: _summary(times[lib], entry["audio_seconds"]) for lib in times}
    base = libs["modspec"]["median_s"]
    ratio = {lib: libs[lib]["median_s"] / base for lib in libs if lib != "modspec"}
    entry.update(libraries=libs, ratio=ratio, parity=_parities(outputs),
                 output_shape=list(_to_numpy(outputs["modspec"]).shape))
    entry["versions"] = {"kymatio": entry["kymatio_version"]}
    if torch is not None:
        entry["versions"]["torch"] = torch.__version__
        entry["torch_threads"] = torch.get_num_threads()
    return entry


def _measure_in_subprocess(section, case, *, rounds, warmup, kymatio_dev):
    """:func:`measure_section` in ``python -m benchmarks.compare_scattering --worker``, its JSON read back."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / f"{section}.json"
        command = [sys.executable, "-m", "benchmarks.compare_scattering", "--worker", section,
                   "--case", json.dumps(case), "--rounds", str(rounds), "--warmup", str(warmup), "--out", str(out)]
        env = dict(os.environ, **{KYMATIO_DEV_ENV: str(kymatio_dev)})
        done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, check=False)
        if done.returncode != 0 or not out.exists():
            tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-5:])
            return {"params": case["params"], "shape": list(case["shape"]), "dtype": case["dtype"],
                    "skipped": f"the {section} subprocess failed (exit {done.returncode}): {tail}", "notes": []}
        return json.loads(out.read_text())


def _bar(section, entry):
    """Whether modspec is >= BARS[section] times faster than the fastest kymatio frontend (None: none measured)."""
    ratio = entry.get("ratio") or {}
    peers = {lib: r for lib, r in ratio.items() if lib in PEERS}
    if not peers:
        return {"bar": BARS[section], "fastest_peer": None, "ratio": None, "held": None}
    fastest = min(peers, key=peers.get)  # the smallest ratio: the shortest peer time
    return {"bar": BARS[section], "fastest_peer": fastest, "ratio": peers[fastest],
            "held": bool(peers[fastest] >= BARS[section])}


def measure(*, rounds=DEFAULT_ROUNDS, warmup=WARMUP, cases=None, kymatio_dev=None, sections=SECTIONS):
    """Run the sections; the result as a JSON-able dict.

    Parameters
    ----------
    rounds : int >= 1
        Round-robin rounds (timed calls per library).
    warmup : int >= 1
        Untimed calls per library before the rounds (the first gives the parity).
    cases : dict, optional
        ``{section: {"params", "shape", "dtype"}}``; ``CASES`` by default.
    kymatio_dev : str or Path, optional
        A kymatio development checkout (the folder holding ``kymatio/``) for
        the jtfs section, run in a subprocess; None skips that section.
    sections : sequence of {'scattering', 'jtfs'}

    Returns
    -------
    dict
        ``{"date", "machine", "settings", "notes", "sections": {section:
        {"params", "shape", "dtype", "audio_seconds", "kymatio_version",
        "skipped", "libraries": {lib: {"median_s", "throughput", ...}},
        "ratio": {peer: peer_time / modspec_time}, "parity": {"<lib>_vs_<ref>":
        max|a-b|/max|b|}, "bar": {"bar", "fastest_peer", "ratio", "held"}}},
        "all_held"}``; a skipped section has ``skipped`` (the reason) and no
        timings.
    """
    if int(rounds) < 1:
        raise ValueError(f"rounds={rounds} must be at least 1")
    cases = CASES if cases is None else cases
    notes = []
    torch = _import_torch([])
    result = {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": machine_info({"torch": torch} if torch is not None else {}),
        "settings": {"sr": SR, "rounds": int(rounds), "warmup": max(int(warmup), 1),
                     "statistic": "median seconds per call, round-robin", "bars": dict(BARS)},
        "notes": notes,
        "sections": {},
    }
    for section in sections:
        case = cases[section]
        if section == "jtfs":
            if not kymatio_dev:
                entry = {"params": case["params"], "shape": list(case["shape"]), "dtype": case["dtype"],
                         "skipped": f"{KYMATIO_DEV_ENV} is unset: set it to a kymatio development checkout "
                                    "(0.4.0.dev0, the folder holding kymatio/) to compare jtfs", "notes": []}
            else:
                entry = _measure_in_subprocess(section, case, rounds=rounds, warmup=warmup, kymatio_dev=kymatio_dev)
        else:
            entry = measure_section(section, case, rounds=rounds, warmup=warmup)
        entry["bar"] = _bar(section, entry)
        if entry.get("skipped"):
            notes.append(f"{section} skipped: {entry['skipped']}")
        notes.extend(entry.get("notes", []))
        cores = (entry.get("background_load") or {}).get("cores")
        if cores is not None and cores > 0.15:
            notes.append(f"{section}: other processes kept {cores:.2f} cores busy on average: timings unreliable")
            if "kymatio_torch" in entry.get("libraries", {}) and not os.environ.get("OMP_WAIT_POLICY"):
                notes.append(f"{section}: torch's OpenMP threads are especially slowed by competing processes with "
                             "OMP_WAIT_POLICY unset (benchmarks/README.md); rerun quiet or with OMP_WAIT_POLICY=PASSIVE")
        result["sections"][section] = entry
    verdicts = [entry["bar"]["held"] for entry in result["sections"].values() if not entry.get("skipped")]
    result["all_held"] = None if not verdicts or None in verdicts else all(verdicts)
    return result


def format_table(result):
    """The result as a plain-text table, plus the bars."""
    head = (f"{'section':<11} {'library':<14} {'median ms':>10} {'IQR ms':>17} {'audio s/s':>10} "
            f"{'modspec x':>10} {'max rel err':>12}")
    lines = [head, "-" * len(head)]
    for section, entry in result["sections"].items():
        if entry.get("skipped"):
            lines.append(f"{section:<11} skipped: {entry['skipped']}")
            continue
        parity = entry["parity"]
        reference = next((lib for lib in PEERS if lib in entry["libraries"]), None)
        for lib, s in entry["libraries"].items():
            speedup = "" if lib == "modspec" else f"{entry['ratio'][lib]:.2f}"
            err = "reference" if lib == reference else parity.get(f"{lib}_vs_{reference}")
            err = "" if err is None else (err if isinstance(err, str) else f"{err:.1e}")
            iqr = f"{1e3 * s['q1_s']:.1f}-{1e3 * s['q3_s']:.1f}"
            lines.append(f"{section:<11} {lib:<14} {1e3 * s['median_s']:>10.1f} {iqr:>17} {s['throughput']:>10.1f} "
                         f"{speedup:>10} {err:>12}")
        version = entry.get("kymatio_version")
        lines.append(f"{section:<11} params {entry['params']}, input {tuple(entry['shape'])} {entry['dtype']}"
                     + (f", kymatio {version}" if version else ""))
    lines.append("")
    lines.append("'modspec x' = kymatio median time / modspec median time (above 1: modspec is faster);")
    lines.append("'max rel err' = max|a - b| / max|b| against kymatio's NumPy output (the reference row).")
    lines.append("bars (modspec against the fastest kymatio frontend of the section):")
    for section, entry in result["sections"].items():
        bar = entry["bar"]
        if entry.get("skipped"):
            lines.append(f"  {section:<11} >= {bar['bar']:g}x  skipped")
        elif bar["held"] is None:
            lines.append(f"  {section:<11} >= {bar['bar']:g}x  not measured (no kymatio frontend)")
        else:
            lines.append(f"  {section:<11} >= {bar['bar']:g}x {bar['fastest_peer']:<14} {bar['ratio']:.2f}x  "
                         f"{'holds' if bar['held'] else 'FAILS'}")
    verdict = {True: "all measured bars hold", False: "some bars fail", None: "bars not fully measured"}
    lines.append(f"  -> {verdict[result['all_held']]}")
    for section, entry in result["sections"].items():
        cores = (entry.get("background_load") or {}).get("cores")
        if cores is not None:
            lines.append(f"other processes' CPU use during {section}: {cores:.2f} cores on average")
    lines += [f"note: {note}" for note in result["notes"] if not note.startswith(tuple(f"{s} skipped" for s in SECTIONS))]
    return "\n".join(lines)


def _worker(args):
    """``--worker SECTION``: measure one section here and write its JSON to ``--out``."""
    entry = measure_section(args.worker, json.loads(args.case), rounds=args.rounds, warmup=args.warmup,
                            kymatio_dev=os.environ.get(KYMATIO_DEV_ENV))
    args.out.write_text(json.dumps(entry) + "\n")
    return 0


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.compare_scattering",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=None, help=f"round-robin rounds (default {DEFAULT_ROUNDS})")
    parser.add_argument("--quick", action="store_true", help=f"smoke run: {QUICK_ROUNDS} rounds unless --rounds")
    parser.add_argument("--warmup", type=int, default=WARMUP, help=f"untimed calls per library (default {WARMUP})")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT,
                        help="JSON output (default benchmarks/results_scattering.json)")
    parser.add_argument("--worker", choices=SECTIONS, help=argparse.SUPPRESS)
    parser.add_argument("--case", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    rounds = args.rounds if args.rounds is not None else (QUICK_ROUNDS if args.quick else DEFAULT_ROUNDS)
    if rounds < 1:
        parser.error(f"--rounds={rounds} must be at least 1")
    args.rounds = rounds
    if args.worker:
        return _worker(args)
    kymatio_dev = os.environ.get(KYMATIO_DEV_ENV) or None
    if kymatio_dev is None:
        print(f"{KYMATIO_DEV_ENV} is unset: the jtfs section (kymatio's development branch) is skipped")
    print(f"{rounds} rounds, {max(args.warmup, 1)} warm-up call(s) per library; float32 noise at {SR} Hz")
    result = measure(rounds=rounds, warmup=args.warmup, kymatio_dev=kymatio_dev)
    result["settings"]["quick"] = bool(args.quick)
    print(machine_line(result["machine"]))
    print(format_table(result))
    write_result(result, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
