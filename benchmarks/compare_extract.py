"""Throughput of ``modspec extract``: files per second with 1 and 2 local Dask workers.

Generates 200 clips of 30 s (16 kHz, 16-bit WAV, seeded: tones with tremolo
plus noise) with ``modspec.io.save`` in a temporary folder, then runs
:func:`modspec.extract.extract` on them for each feature (``mel``: 96-band
power mel spectrogram; ``modulation``: TMNN's 4 sinc modulation filters plus
the unfiltered band on the 96-band dB mel spectrogram) and each worker count,
every run into a new Zarr store, with ``duration=30`` (one array per
feature). A local cluster of N worker processes has one task thread per
worker and ``cores // N`` kernel threads per worker.

Reported per run: files/s over the extraction (from the first task submitted
to the last batch committed; worker start-up excluded, numba's loading of
its cached kernels in each worker included) and files/s over the whole call
(cluster start and stop included).

    python -m benchmarks.compare_extract                 # -> benchmarks/results_extract.json
    python -m benchmarks.compare_extract --quick         # 20 clips of 5 s: a smoke run
"""

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

try:  # python -m benchmarks.compare_extract
    from benchmarks.compare import machine_info, machine_line, write_result
except ImportError:  # python benchmarks/compare_extract.py
    from compare import machine_info, machine_line, write_result

SR = 16000
SEED = 20261121
DEFAULT_OUT = Path(__file__).resolve().parent / "results_extract.json"


def make_corpus(folder, n_clips, seconds, *, sr=SR, seed=SEED):
    """Write ``n_clips`` seeded clips of ``seconds`` s as 16-bit WAV files into ``folder``."""
    from modspec import io

    rng = np.random.default_rng(seed)
    t = np.arange(round(seconds * sr)) / sr
    for i in range(n_clips):
        f0, rate = rng.uniform(100, 1000), rng.uniform(2, 12)
        y = 0.3 * np.sin(2 * np.pi * f0 * t) * (1 + 0.5 * np.sin(2 * np.pi * rate * t))
        y += 0.05 * rng.standard_normal(t.size)
        io.save(Path(folder) / f"clip{i:04d}.wav", y.astype(np.float32), sr)


def busy_cores(seconds):
    """Average busy cores of the whole machine over ``seconds`` (Linux /proc/stat), or None."""

    def busy():
        with open("/proc/stat") as fh:
            fields = [int(v) for v in fh.readline().split()[1:8]]
        return (sum(fields) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")

    try:
        b0, t0 = busy(), time.perf_counter()
        time.sleep(seconds)
        return (busy() - b0) / (time.perf_counter() - t0)
    except OSError:
        return None


def run(features, workers, n_clips, seconds, *, duration, batch_size):
    """Extract every feature with every worker count; returns the result dict."""
    from modspec.extract import extract

    root = Path(tempfile.mkdtemp(prefix="modspec-extract-bench-"))
    try:
        t0 = time.perf_counter()
        (root / "audio").mkdir()
        make_corpus(root / "audio", n_clips, seconds)
        generate_s = time.perf_counter() - t0
        result = {
            "corpus": {"n_clips": n_clips, "seconds": seconds, "sr": SR, "format": "WAV PCM_16",
                       "generate_s": generate_s},
            "machine": {**machine_info({}), "busy_cores_before": busy_cores(3.0)},
            "runs": [],
        }
        for feature in features:
            for n in workers:
                out = root / f"{feature}-{n}.zarr"
                t0 = time.perf_counter()
                r = extract(root / "audio", feature, out, sr=SR, duration=duration, workers=n, batch_size=batch_size,
                            progress=False)
                wall = time.perf_counter() - t0
                size = sum(f.stat().st_size for f in out.rglob("*") if f.is_file())
                row = {
                    "feature": feature, "workers": n, "files": r.n_extracted, "failed": len(r.failed),
                    "extract_s": r.seconds, "wall_s": wall, "files_per_s": r.n_extracted / r.seconds,
                    "files_per_s_wall": r.n_extracted / wall,
                    "audio_x_realtime": r.n_extracted * seconds / r.seconds, "store_mb": size / 1e6,
                }
                result["runs"].append(row)
                print(f"{feature:>11}  workers={n}  {row['files_per_s']:7.2f} files/s  "
                      f"({row['files_per_s_wall']:.2f} with cluster start)  {row['extract_s']:.1f} s  "
                      f"{row['audio_x_realtime']:.0f}x real time  store {row['store_mb']:.0f} MB", flush=True)
                shutil.rmtree(out)
        result["machine"]["busy_cores_after"] = busy_cores(3.0)
        return result
    finally:
        shutil.rmtree(root, ignore_errors=True)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.compare_extract", description=__doc__.split("\n\n")[0])
    parser.add_argument("--clips", type=int, default=200, help="number of clips (default 200)")
    parser.add_argument("--seconds", type=float, default=30.0, help="clip length in s (default 30)")
    parser.add_argument("--workers", default="1,2", help="worker counts, comma-separated (default 1,2)")
    parser.add_argument("--features", default="mel,modulation", help="features, comma-separated")
    parser.add_argument("--batch-size", type=int, default=8, help="files per task (default 8)")
    parser.add_argument("--quick", action="store_true", help="20 clips of 5 s")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="JSON output (default benchmarks/results_extract.json)")
    args = parser.parse_args(argv)
    n_clips, seconds = (20, 5.0) if args.quick else (args.clips, args.seconds)
    workers = [int(w) for w in args.workers.split(",")]
    result = run(args.features.split(","), workers, n_clips, seconds, duration=seconds, batch_size=args.batch_size)
    print(machine_line(result["machine"]))
    before, after = result["machine"]["busy_cores_before"], result["machine"]["busy_cores_after"]
    if before is not None:
        print(f"busy cores of other processes, 3 s before / after the runs: {before:.2f} / {after:.2f}")
    write_result(result, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
