"""modspec's learnable and modulation front ends against the same layers in plain torch.

Three layers, on 16 five-second excerpts at 16 kHz, float32 (parameters in
``benchmarks/benchmarks/common.py``):

- ``sinc``: Vahidi et al.'s sinc convolution 1-80-256-10 on the audio;
- ``modulation``: their modulation convolution 80-20-128-160, one bank shared by
  the 80 band outputs at 1.6 kHz;
- ``tmnn``: Ma & Stern's 101-tap modulation filters, 'same' padding, on 96 bands
  at 62.5 frames/s.

The peer is what a user writes in torch: ``conv1d`` with the filters (built
from learnable cut-offs by the same sinc formula for the training step). Two
comparisons per layer, each interleaved round-robin after warm-up, medians:

- forward: ``modspec.features`` (NumPy, numba kernels) vs torch ``conv1d``
  under ``torch.inference_mode``; bar >= 1.5x;
- train step: ``modspec.nn`` forward + backward vs torch forward + backward
  (gradients for the cut-offs, and for the input of the modulation layers, which
  sit on a learnable layer); bar >= 1x.

Threads: torch's OpenMP workers, with ``OMP_WAIT_POLICY`` unset, spin for a
while after each of torch's calls and take the cores from the modspec call
that follows in the round (torch's own times are the same under both
policies). Unless ``OMP_WAIT_POLICY`` is set or ``--torch-defaults`` is given,
the script sets it to PASSIVE before it imports torch, and says so in the
JSON's ``settings``.

Run from the repository root::

    python -m benchmarks.compare_frontends            # 20 rounds -> benchmarks/results_frontends.json
    python -m benchmarks.compare_frontends --quick    # 3 rounds

Needs torch (``modspec[torch]``). Speed is reported, never asserted.
"""

import argparse
import os
import sys
from pathlib import Path

import numpy as np

try:  # python -m benchmarks.compare_frontends
    from benchmarks.benchmarks.common import (
        FRONTEND_BATCH,
        MODULATION_LAYER,
        SINC_LAYER,
        SR,
        TMNN_LAYER,
        make_envelopes,
        make_input,
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
except ImportError:  # python benchmarks/compare_frontends.py
    from compare import (
        _BackgroundLoad,
        _summary,
        machine_info,
        machine_line,
        parity_error,
        time_round_robin,
        write_result,
    )

    from benchmarks.common import (
        FRONTEND_BATCH,
        MODULATION_LAYER,
        SINC_LAYER,
        SR,
        TMNN_LAYER,
        make_envelopes,
        make_input,
    )

DEFAULT_ROUNDS = 20
QUICK_ROUNDS = 3
WARMUP = 2
#: modspec at least this many times faster than plain torch.
BARS = {"forward": 1.5, "train": 1.0}
DEFAULT_OUT = Path(__file__).resolve().parent / "results_frontends.json"
LAYERS = ("sinc", "modulation", "tmnn")


def _sinc_layer(torch, y, layer=SINC_LAYER, device="cpu"):
    """modspec and plain-torch callables of the sinc convolution on ``y`` (batch, n_samples).

    The train steps run on ``device``; modspec's forward is the NumPy feature (CPU).
    """
    import modspec.nn as mn
    from modspec import features, filters
    from modspec.nn.learnable import sinc_filters

    bank = filters.sinc_bandpass(layer["n_filters"], layer["kernel_size"], sr=SR, dtype=np.float32)
    weight = torch.from_numpy(np.array(bank.filters))[:, None].to(device)
    x = torch.from_numpy(y)[:, None].to(device)
    stride = layer["stride"]
    module = mn.SincConv(layer["n_filters"], layer["kernel_size"], stride, sr=SR).to(device)
    low = torch.nn.Parameter(torch.tensor(bank.low_hz, dtype=torch.float32, device=device))
    high = torch.nn.Parameter(torch.tensor(bank.high_hz, dtype=torch.float32, device=device))
    window = torch.hamming_window(layer["kernel_size"], periodic=False, device=device)
    y_tensor = torch.from_numpy(y).to(device)

    def torch_train(_):
        out = torch.nn.functional.conv1d(x, sinc_filters(low, high, window, SR)[:, None], stride=stride)
        out.sum().backward()

    def modspec_train(_):
        module(y_tensor).sum().backward()

    forward = {
        "modspec": lambda _: features.sinc_filterbank(y, SR, **layer),
        "torch": lambda _: torch.nn.functional.conv1d(x, weight, stride=stride),
    }
    return forward, {"modspec": modspec_train, "torch": torch_train}


def _modulation_layer(torch, S, layer, padding, device="cpu"):
    """modspec and plain-torch callables of a sinc modulation bank shared across bands, on S (batch, bands, frames).

    The train steps run on ``device``; modspec's forward is the NumPy feature (CPU).
    """
    import modspec.nn as mn
    from modspec import features, filters
    from modspec.nn.learnable import sinc_filters

    n_filters, kernel_size, stride, rate = layer["n_filters"], layer["kernel_size"], layer["stride"], layer["frame_rate"]
    bank = filters.modulation_sinc(n_filters, kernel_size, frame_rate=rate, dtype=np.float32)
    weight = torch.from_numpy(np.array(bank.filters))[:, None].to(device)
    pad = (kernel_size - 1) // 2 if padding == "same" else 0
    batch, n_bands, n_frames = S.shape
    rows = torch.from_numpy(S).reshape(-1, 1, n_frames).to(device)
    if padding == "same":  # zero padding (K-1)//2 left, K//2 right, as modspec's 'same'
        rows = torch.nn.functional.pad(rows, (pad, kernel_size // 2))
    module = mn.ModulationFilterbank(n_filters, kernel_size, frame_rate=rate, kind="sinc", stride=stride,
                                     padding=padding).to(device)
    low = torch.nn.Parameter(torch.tensor(bank.low_hz, dtype=torch.float32, device=device))
    high = torch.nn.Parameter(torch.tensor(bank.high_hz, dtype=torch.float32, device=device))
    window = torch.hamming_window(kernel_size, periodic=False, device=device)
    S_tensor = torch.from_numpy(S).to(device)

    def torch_forward(_):
        return torch.nn.functional.conv1d(rows, weight, stride=stride).reshape(batch, n_bands, n_filters, -1)

    def torch_train(_):
        x = rows.detach().requires_grad_(True)
        out = torch.nn.functional.conv1d(x, sinc_filters(low, high, window, rate)[:, None], stride=stride)
        out.reshape(batch, n_bands, n_filters, -1).sum().backward()

    def modspec_train(_):
        module(S_tensor.detach().requires_grad_(True)).sum().backward()

    forward = {
        "modspec": lambda _: features.modulation_filterbank(
            S, frame_rate=rate, kind="sinc", n_filters=n_filters, kernel_size=kernel_size, stride=stride,
            padding=padding,
        ),
        "torch": torch_forward,
    }
    return forward, {"modspec": modspec_train, "torch": torch_train}


def build_layers(torch, *, batch=FRONTEND_BATCH, n_samples=None, device="cpu"):
    """``{layer: (input, audio_seconds, forward callables, train callables)}``.

    ``batch`` and ``n_samples`` shrink the inputs (tests) or, for ``batch``,
    grow them (the excerpts repeat); the frame counts follow. The train steps
    run on ``device`` (e.g. 'cuda' for ``benchmarks.compare_gpu``).
    """
    n_samples = 5 * SR if n_samples is None else n_samples
    y = make_input("batch_16x5s")[:, :n_samples]
    y = np.ascontiguousarray(np.resize(y, (batch, y.shape[-1])))
    scale = n_samples / (5 * SR)
    mod = dict(MODULATION_LAYER, n_frames=(n_samples - SINC_LAYER["kernel_size"]) // SINC_LAYER["stride"] + 1)
    tmnn = dict(TMNN_LAYER, n_frames=max(TMNN_LAYER["kernel_size"], round(TMNN_LAYER["n_frames"] * scale)))
    audio_seconds = batch * n_samples / SR
    layers = {"sinc": (y, audio_seconds, *_sinc_layer(torch, y, device=device))}
    S = make_envelopes(mod["n_bands"], mod["n_frames"], batch=batch)
    layers["modulation"] = (S, audio_seconds, *_modulation_layer(torch, S, mod, "valid", device=device))
    S = make_envelopes(tmnn["n_bands"], tmnn["n_frames"], batch=batch)
    layers["tmnn"] = (S, audio_seconds, *_modulation_layer(torch, S, tmnn, "same", device=device))
    return layers


def measure(*, rounds=DEFAULT_ROUNDS, warmup=WARMUP, batch=FRONTEND_BATCH, n_samples=None):
    """Time every layer's forward and train step; the result as a JSON-able dict.

    Returns
    -------
    dict
        ``{"machine", "settings", "notes", "layers": {layer: {"shape", "audio_seconds",
        "forward"|"train": {"libraries": {lib: {"median_s", "throughput", ...}},
        "ratio": torch_time / modspec_time, "bar", "held"}, "parity"}}, "all_held"}``.
    """
    import torch

    warmup = max(int(warmup), 1)
    layers = build_layers(torch, batch=batch, n_samples=n_samples)
    result = {
        "machine": machine_info({"torch": torch}),
        "settings": {"sr": SR, "batch": batch, "n_samples": int(layers["sinc"][0].shape[-1]), "dtype": "float32",
                     "rounds": int(rounds), "warmup": warmup, "statistic": "median seconds per call, round-robin",
                     "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY")},
        "notes": [],
        "layers": {},
    }
    load = _BackgroundLoad()
    verdicts = []
    for name, (x, audio_seconds, forward, train) in layers.items():
        entry = {"shape": list(x.shape), "audio_seconds": audio_seconds}
        for kind, funcs in (("forward", forward), ("train", train)):
            grad = torch.inference_mode() if kind == "forward" else torch.enable_grad()
            with grad:
                times, outputs = time_round_robin(funcs, x, rounds=int(rounds), warmup=warmup)
            libs = {lib: _summary(times[lib], audio_seconds) for lib in times}
            ratio = libs["torch"]["median_s"] / libs["modspec"]["median_s"]
            held = bool(ratio >= BARS[kind])
            verdicts.append(held)
            entry[kind] = {"libraries": libs, "ratio": ratio, "bar": BARS[kind], "held": held}
            if kind == "forward":
                entry["parity"] = parity_error(outputs["modspec"], outputs["torch"].reshape(outputs["modspec"].shape))
        result["layers"][name] = entry
    result["machine"]["background_load"] = background = load.stop()
    if background["cores"] is not None and background["cores"] > 0.15:
        result["notes"].append(f"other processes kept {background['cores']:.2f} cores busy: timings unreliable")
    result["all_held"] = all(verdicts)
    return result


def format_table(result):
    """The result as a plain-text table with the bars."""
    head = f"{'layer':<11} {'step':<8} {'library':<8} {'median ms':>10} {'audio s/s':>10} {'modspec x':>10} {'bar':>6}"
    lines = [head, "-" * len(head)]
    for name, entry in result["layers"].items():
        for kind in ("forward", "train"):
            data = entry[kind]
            for lib, s in data["libraries"].items():
                extra = "" if lib == "modspec" else f"{data['ratio']:>10.2f} {('ok' if data['held'] else 'FAIL'):>6}"
                lines.append(f"{name:<11} {kind:<8} {lib:<8} {1e3 * s['median_s']:>10.2f} {s['throughput']:>10.0f} "
                             f"{extra}")
        lines.append(f"{name:<11} parity of the forward outputs (max|a-b|/max|b|): {entry['parity']:.1e}")
    lines.append(f"bars: forward >= {BARS['forward']}x torch, train >= {BARS['train']}x torch -> "
                 f"{'all hold' if result['all_held'] else 'some FAIL'}")
    background = result["machine"]["background_load"]["cores"]
    if background is not None:
        lines.append(f"other processes' CPU use during the run: {background:.2f} cores on average")
    lines += [f"note: {note}" for note in result["notes"]]
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.compare_frontends",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=None, help=f"round-robin rounds (default {DEFAULT_ROUNDS})")
    parser.add_argument("--quick", action="store_true", help=f"smoke run: {QUICK_ROUNDS} rounds unless --rounds")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="JSON output")
    parser.add_argument("--torch-defaults", action="store_true",
                        help="leave OMP_WAIT_POLICY unset (torch's workers spin into the next modspec call)")
    args = parser.parse_args(argv)
    if not args.torch_defaults and "torch" not in sys.modules:
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    rounds = args.rounds if args.rounds is not None else (QUICK_ROUNDS if args.quick else DEFAULT_ROUNDS)
    if rounds < 1:
        parser.error(f"--rounds={rounds} must be at least 1")
    result = measure(rounds=rounds)
    print(machine_line(result["machine"]))
    print(format_table(result))
    write_result(result, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
