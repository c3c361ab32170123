"""modspec's GPU backend against torch (and torchaudio, nnAudio, kymatio) on one CUDA GPU.

A batch of 64 five-second excerpts at 16 kHz, float32 (``(64, 80000)``),
already on the device: host-to-device transfer is timed apart (the ``transfer``
section) and excluded from every other figure. Sections:

- ``launch``: the host-side cost of one kernel launch on a tiny array:
  ``modspec.kernels.gpu.launch`` (numba's binary launched directly),
  the same through numba's dispatcher with CuPy arguments and with numba's
  views made beforehand, CuPy, torch: what each kernel of a modspec GPU call
  costs before the GPU does any work;
- ``melspectrogram``: ``modspec.features.melspectrogram`` on a CuPy array
  (n_fft 512, hop 256, 96 mels) against ``torch.stft`` + ``|X|^2`` + a
  ``torch.matmul`` with the same mel matrix, torchaudio's ``MelSpectrogram``
  and nnAudio's ``MelSpectrogram`` (each where installed), and where
  modspec's host time goes in a call (cProfile's top functions). Here and in
  ``jtfs``, ``modspec_numba_launch`` is the same modspec call with every
  kernel launched through numba's dispatcher (``gpu.DIRECT_LAUNCH`` off);
- ``sinc``: Vahidi et al.'s sinc layer 1-80-256-10 (``sinc_filterbank``)
  against ``torch.nn.functional.conv1d`` with the same filters;
- ``modulation``: their modulation layer 80-20-128-160 on (64, 80, 7975)
  band envelopes, and ``tmnn``: Ma & Stern's 4 x 101-tap filters, 'same'
  padding, on (64, 96, 313), both against ``conv1d``;
- ``nn_train_sinc``, ``nn_train_modulation``, ``nn_train_tmnn``: one
  training step (forward + backward) of ``modspec.nn.SincConv`` and
  ``ModulationFilterbank`` on CUDA tensors against the same layers in plain
  torch (the callables of ``benchmarks.compare_frontends``), with the method
  modspec's cost model picks and with each of its two methods forced
  (``modspec_direct``, ``modspec_fft``): which is fastest on the GPU;
- ``jtfs``: ``modspec.features.jtfs`` on a CuPy array (numba.cuda kernels,
  cuFFT, cuBLAS), and ``modspec.nn.TimeFrequencyScattering`` on a CUDA
  tensor, against kymatio's development ``TimeFrequencyScattering`` torch
  frontend on CUDA (J=6, J_fr=2, Q=(8, 2), (64, 16384)); kymatio's
  development branch is not released: point ``KYMATIO_DEV`` at a checkout
  (the folder that holds ``kymatio/``). modspec's jTFS is also timed alone
  with CuPy's default cuFFT plan cache (16 plans) and with room for the
  about 30 FFT shapes one call uses (``cufft_plan_cache`` in the JSON).

Every callable runs once untimed (numba compilation, cuFFT plans, torch
set-up), then all are timed interleaved round-robin, each call between two
device synchronisations; medians are reported with the speed-up
``modspec x`` = peer time / modspec time and the parity ``max|a-b|/max|b|``
against modspec's CPU result. Peak device memory of one call is recorded:
``torch.cuda.max_memory_allocated`` for torch callables, and for CuPy ones the
bytes CuPy's memory pool holds after one call from an emptied pool (it keeps
freed blocks, so this is the call's high-water mark).

Run from the repository root on a machine with CuPy and torch built for CUDA::

    python -m benchmarks.compare_gpu              # 20 rounds -> benchmarks/results_gpu.json
    python -m benchmarks.compare_gpu --quick      # 3 rounds, smaller batch (8)
    KYMATIO_DEV=/path/to/kymatio python -m benchmarks.compare_gpu

Without CuPy or a CUDA device the script says why and writes the reason to
the JSON (``"skipped"``). Speed is reported, never asserted.
"""

import argparse
import importlib
import os
import statistics
import sys
import time
import warnings
from pathlib import Path

import numpy as np

try:  # python -m benchmarks.compare_gpu
    from benchmarks.benchmarks.common import MODULATION_LAYER, N_FFT, N_MELS, SEED, SINC_LAYER, SR, TMNN_LAYER
    from benchmarks.compare import write_result
except ImportError:  # python benchmarks/compare_gpu.py
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from compare import write_result

    from benchmarks.common import MODULATION_LAYER, N_FFT, N_MELS, SEED, SINC_LAYER, SR, TMNN_LAYER

HOP = 256
BATCH = 64
QUICK_BATCH = 8
SECONDS = 5
DEFAULT_ROUNDS = 20
QUICK_ROUNDS = 3
JTFS_PARAMS = {"J": 6, "J_fr": 2, "Q": (8, 2)}
JTFS_SAMPLES = 16384
KYMATIO_DEV_ENV = "KYMATIO_DEV"
DEFAULT_OUT = Path(__file__).resolve().parent / "results_gpu.json"


def _optional(name):
    try:
        return importlib.import_module(name)
    except Exception:
        return None


def gpu_unavailable_reason():
    """None if CuPy and a CUDA device are usable, else why not."""
    cupy = _optional("cupy")
    if cupy is None:
        return "CuPy is not installed (pip install 'modspec[gpu]')"
    try:
        if cupy.cuda.runtime.getDeviceCount() < 1:
            return "no CUDA device"
    except Exception as exc:
        return f"no usable CUDA device ({exc})"
    return None


# --------------------------------------------------------------------------- timing and memory


class Device:
    """Synchronisation and memory accounting for CuPy and (if present) torch on the current device."""

    def __init__(self, cupy, torch):
        self.cupy = cupy
        self.torch = torch if torch is not None and torch.cuda.is_available() else None

    def sync(self):
        self.cupy.cuda.Device().synchronize()
        if self.torch is not None:
            self.torch.cuda.synchronize()

    def peak_bytes(self, kind, call):
        """Device memory one call needs (see the module docstring)."""
        self.sync()
        if kind == "torch":
            self.torch.cuda.empty_cache()
            self.torch.cuda.reset_peak_memory_stats()
            base = self.torch.cuda.memory_allocated()
            out = call()
            self.sync()
            peak = self.torch.cuda.max_memory_allocated() - base
        else:
            pool = self.cupy.get_default_memory_pool()
            pool.free_all_blocks()
            base = pool.total_bytes()
            out = call()
            self.sync()
            peak = pool.total_bytes() - base
        del out
        return int(peak)

    def round_robin(self, funcs, *, rounds):
        """Warm every callable up, then time them interleaved; their warm-up outputs."""
        outputs = {name: f() for name, (_, f) in funcs.items()}
        self.sync()
        names = list(funcs)
        times = {name: [] for name in names}
        for r in range(rounds):
            k = r % len(names)
            for name in names[k:] + names[:k]:
                self.sync()
                t0 = time.perf_counter()
                out = funcs[name][1]()
                self.sync()
                times[name].append(time.perf_counter() - t0)
                del out
        return times, outputs


def _to_host(x):
    if hasattr(x, "detach"):
        return x.detach().cpu().numpy()
    if hasattr(x, "get"):
        return x.get()
    return np.asarray(x)


def _parity(a, b):
    a, b = _to_host(a).astype(np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        return None
    return float(np.max(np.abs(a - b)) / np.max(np.abs(b)))


def _section(device, funcs, reference, *, rounds, audio_seconds):
    """Time, measure memory and check parity of ``funcs`` (name -> (kind, callable)); modspec first."""
    times, outputs = device.round_robin(funcs, rounds=rounds)
    result = {"libraries": {}}
    modspec_median = statistics.median(times["modspec"])
    for name, (kind, call) in funcs.items():
        median = statistics.median(times[name])
        result["libraries"][name] = {
            "median_s": median,
            "min_s": min(times[name]),
            "q1_s": float(np.percentile(times[name], 25)),
            "q3_s": float(np.percentile(times[name], 75)),
            "throughput": audio_seconds / median,
            "modspec_speedup": median / modspec_median,
            "parity": _parity(outputs[name], reference) if reference is not None else None,
            "peak_bytes": device.peak_bytes(kind, call),
            "times_s": [float(t) for t in times[name]],
        }
    return result


# --------------------------------------------------------------------------- sections


def _signals(shape):
    rng = np.random.default_rng(SEED)
    return (0.1 * rng.standard_normal(shape)).astype(np.float32)


def _envelopes(shape):
    rng = np.random.default_rng(SEED)
    return np.abs(rng.standard_normal(shape)).astype(np.float32)


def transfer_section(device, y):
    """Host-to-device copy of the batch: CuPy and torch (pageable host memory), median of 5."""
    cupy, torch = device.cupy, device.torch
    copies = {"cupy": ("cupy", lambda: cupy.asarray(y))}
    if torch is not None:
        host = torch.from_numpy(y)
        copies["torch"] = ("torch", lambda: host.cuda())
    times, _ = device.round_robin(copies, rounds=5)
    result = {"bytes": int(y.nbytes)}
    for name in copies:
        median = statistics.median(times[name])
        result[name] = {"median_s": median, "gb_per_s": y.nbytes / median / 1e9}
    return result


LAUNCHES = 200


def _through_numba(call):
    """``call`` with every kernel launched through numba's dispatcher (``modspec.kernels.gpu.DIRECT_LAUNCH`` off)."""
    from modspec.kernels import gpu

    def run():
        before, gpu.DIRECT_LAUNCH = gpu.DIRECT_LAUNCH, False
        try:
            return call()
        finally:
            gpu.DIRECT_LAUNCH = before

    return run


def launch_section(device):
    """Host-side cost of one kernel launch on a tiny array: numba.cuda (``modspec.kernels.gpu.launch``), CuPy, torch.

    ``LAUNCHES`` back-to-back launches of an elementwise modulus on 64
    complex64 values between two synchronisations; median over 5 rounds of
    the time per launch. The GPU work is negligible, so this is the dispatch
    cost that every modspec GPU call pays per kernel. ``modspec`` is
    ``gpu.launch`` as the features use it: numba's binary launched straight
    through cuda.core, arguments packed in Python. ``numba`` goes through
    numba's dispatcher (``DIRECT_LAUNCH`` off: Python typing and conversion
    of every argument), ``numba_views`` too, with the two arrays already
    converted to numba's device arrays (as cached filters are). CuPy's and
    torch's launches go through compiled code.
    """
    from numba import cuda

    from modspec.kernels import gpu

    cupy, torch = device.cupy, device.torch
    U = cupy.ones((1, 64), dtype=cupy.complex64)
    A = cupy.empty((1, 64), dtype=cupy.float32)
    kernel = gpu.kernels(np.float32).modulus
    U_view, A_view = cuda.as_cuda_array(U, sync=False), cuda.as_cuda_array(A, sync=False)
    launches = {
        "modspec": lambda: gpu.launch(kernel, A.size, U, A),
        "numba": _through_numba(lambda: gpu.launch(kernel, A.size, U, A)),
        "numba_views": _through_numba(lambda: gpu.launch(kernel, A.size, U_view, A_view)),
        "cupy": lambda: cupy.abs(U, out=A),
    }
    if torch is not None:
        U_t, A_t = torch.ones((1, 64), dtype=torch.complex64, device="cuda"), torch.empty((1, 64), device="cuda")
        launches["torch"] = lambda: torch.abs(U_t, out=A_t)
    repeated = {name: (None, lambda call=call: [call() for _ in range(LAUNCHES)]) for name, call in launches.items()}
    times, _ = device.round_robin(repeated, rounds=5)
    return {name: {"median_s": statistics.median(times[name]) / LAUNCHES} for name in launches}


def melspectrogram_section(device, y, notes, *, rounds):
    import modspec.features as mf
    from modspec import filters

    cupy, torch = device.cupy, device.torch
    kwargs = dict(sr=SR, n_fft=N_FFT, hop_length=HOP, n_mels=N_MELS)
    y_gpu = cupy.asarray(y)
    funcs = {"modspec": ("cupy", lambda: mf.melspectrogram(y_gpu, **kwargs)),
             "modspec_numba_launch": ("cupy", _through_numba(lambda: mf.melspectrogram(y_gpu, **kwargs)))}
    if torch is not None:
        y_t = torch.from_numpy(y).cuda()
        window = torch.hann_window(N_FFT, periodic=True, device="cuda")
        mel = torch.from_numpy(np.array(filters.mel(sr=SR, n_fft=N_FFT, n_mels=N_MELS))).cuda()  # a writable copy

        def torch_mel():
            with torch.inference_mode():
                X = torch.stft(y_t, N_FFT, HOP, window=window, center=True, pad_mode="constant",
                               return_complex=True)
                return torch.matmul(mel, X.real**2 + X.imag**2)

        funcs["torch"] = ("torch", torch_mel)
        torchaudio = _optional("torchaudio")
        if torchaudio is not None:
            ta = torchaudio.transforms.MelSpectrogram(
                sample_rate=SR, n_fft=N_FFT, hop_length=HOP, n_mels=N_MELS, power=2.0, norm="slaney",
                mel_scale="slaney", center=True, pad_mode="constant",
            ).cuda()

            def torchaudio_mel():
                with torch.inference_mode():
                    return ta(y_t)

            funcs["torchaudio"] = ("torch", torchaudio_mel)
        else:
            notes.append("melspectrogram: torchaudio not installed, skipped")
        nnaudio = _optional("nnAudio.features")
        if nnaudio is not None:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                nn_mel = nnaudio.MelSpectrogram(
                    sr=SR, n_fft=N_FFT, n_mels=N_MELS, hop_length=HOP, center=True, pad_mode="constant", power=2.0,
                    htk=False, norm=1, trainable_mel=False, trainable_STFT=False, verbose=False,
                ).cuda()

            def nnaudio_mel():
                with torch.inference_mode():
                    return nn_mel(y_t)

            funcs["nnAudio"] = ("torch", nnaudio_mel)
        else:
            notes.append("melspectrogram: nnAudio not installed, skipped")
    else:
        notes.append("melspectrogram: torch with CUDA not available, peers skipped")
    reference = mf.melspectrogram(y, **kwargs)
    result = _section(device, funcs, reference, rounds=rounds, audio_seconds=y.shape[0] * y.shape[1] / SR)
    result["host_profile"] = _host_profile(device, funcs["modspec"][1])
    return result


def _host_profile(device, call, *, calls=20, top=12):
    """Where the host's time goes in ``call`` (synchronised after each): the ``top`` functions by own time.

    Returns a list of ``{"function", "us_per_call", "calls_per_call"}``, most
    expensive first: what a call spends in modspec, numba's launch path, CuPy
    and the driver, to tell a dispatch-bound call from a GPU-bound one.
    """
    import cProfile
    import pstats

    profiler = cProfile.Profile()
    for _ in range(calls):
        profiler.runcall(call)
        device.sync()
    stats = pstats.Stats(profiler).stats
    rows = sorted(stats.items(), key=lambda item: -item[1][2])[:top]
    return [{"function": f"{Path(file).name}:{line}({name})", "us_per_call": tottime / calls * 1e6,
             "calls_per_call": n_calls / calls}
            for (file, line, name), (_, n_calls, tottime, _, _) in rows]


def _conv_section(device, x, modspec_call, bank, stride, padding, notes, *, rounds, audio_seconds, name):
    """modspec on CuPy against ``conv1d`` of every row with ``bank`` (n_filters, K) in torch."""
    cupy, torch = device.cupy, device.torch
    x_gpu = cupy.asarray(x)
    funcs = {"modspec": ("cupy", lambda: modspec_call(x_gpu))}
    if torch is not None:
        x_t = torch.from_numpy(np.array(x.reshape(-1, 1, x.shape[-1]))).cuda()
        w = torch.from_numpy(np.array(bank[:, None, :])).cuda()

        def torch_conv():
            with torch.inference_mode():
                out = torch.nn.functional.conv1d(x_t, w, stride=stride, padding=padding)
                return out.reshape(x.shape[:-1] + out.shape[1:])

        funcs["torch_conv1d"] = ("torch", torch_conv)
    else:
        notes.append(f"{name}: torch with CUDA not available, conv1d skipped")
    reference = modspec_call(x)
    return _section(device, funcs, reference, rounds=rounds, audio_seconds=audio_seconds)


def sinc_section(device, y, notes, *, rounds):
    import modspec.features as mf
    from modspec import filters

    layer = SINC_LAYER
    bank = filters.sinc_bandpass(layer["n_filters"], layer["kernel_size"], sr=SR, dtype=np.float32).filters

    def call(x):
        return mf.sinc_filterbank(x, SR, n_filters=layer["n_filters"], kernel_size=layer["kernel_size"],
                                  stride=layer["stride"])

    return _conv_section(device, y, call, bank, layer["stride"], 0, notes, rounds=rounds,
                         audio_seconds=y.shape[0] * y.shape[1] / SR, name="sinc")


def modulation_sections(device, batch, notes, *, rounds):
    import modspec.features as mf
    from modspec import filters

    results = {}
    for name, layer, padding in (("modulation", MODULATION_LAYER, "valid"), ("tmnn", TMNN_LAYER, "same")):
        S = _envelopes((batch, layer["n_bands"], layer["n_frames"]))
        bank = filters.modulation_sinc(layer["n_filters"], layer["kernel_size"], frame_rate=layer["frame_rate"],
                                       dtype=np.float32).filters

        def call(x, layer=layer, padding=padding):
            return mf.modulation_filterbank(x, frame_rate=layer["frame_rate"], n_filters=layer["n_filters"],
                                            kernel_size=layer["kernel_size"], stride=layer["stride"], padding=padding)

        torch_padding = (layer["kernel_size"] - 1) // 2 if padding == "same" else 0
        if padding == "same" and layer["kernel_size"] % 2 == 0:
            notes.append(f"{name}: even kernel, torch's symmetric padding differs from 'same'")
        results[name] = _conv_section(
            device, S, call, bank, layer["stride"], torch_padding, notes, rounds=rounds,
            audio_seconds=batch * layer["n_frames"] / layer["frame_rate"], name=name,
        )
    return results


def nn_train_sections(device, batch, notes, *, rounds):
    """One training step (forward + backward) of modspec.nn's SincConv and ModulationFilterbank on CUDA tensors.

    The peer is the same layer written in plain torch (``conv1d`` of filters
    built from learnable cut-offs), the callables of
    :mod:`benchmarks.compare_frontends` moved to the GPU.
    """
    torch = device.torch
    if torch is None:
        return {"nn_train": {"skipped": "torch with CUDA not available"}}
    try:
        from benchmarks.compare_frontends import build_layers
    except ImportError:  # python benchmarks/compare_gpu.py
        from compare_frontends import build_layers

    from modspec.nn._conv import forced_method

    def with_method(step, method):
        def call():
            with forced_method(method):
                return step(None)

        return call

    results = {}
    for layer, (_, audio_seconds, _, train) in build_layers(torch, batch=batch, device="cuda").items():
        funcs = {"modspec": ("torch", lambda train=train: train["modspec"](None)),
                 "torch": ("torch", lambda train=train: train["torch"](None))}
        for method in ("direct", "fft"):
            funcs[f"modspec_{method}"] = ("torch", with_method(train["modspec"], method))
        results[f"nn_train_{layer}"] = _section(device, funcs, None, rounds=rounds, audio_seconds=audio_seconds)
    notes.append("nn_train_*: one forward + backward of the modspec.nn layer (modspec: the method its CPU-fitted "
                 "cost model picks; modspec_direct, modspec_fft: each method forced) and of plain torch (conv1d, "
                 "cuDNN) on CUDA; parity is checked by tests/test_gpu.py, not here")
    return results


def jtfs_section(device, batch, notes, *, rounds):
    import modspec.features as mf

    cupy, torch = device.cupy, device.torch
    y = _signals((batch, JTFS_SAMPLES))
    y_c = cupy.asarray(y)
    funcs = {"modspec": ("cupy", lambda: mf.jtfs(y_c, format="time", **JTFS_PARAMS)),
             "modspec_numba_launch": ("cupy", _through_numba(lambda: mf.jtfs(y_c, format="time", **JTFS_PARAMS)))}
    if torch is None:
        notes.append("jtfs: torch with CUDA not available; modspec.nn and kymatio skipped")
    else:
        funcs.update(_jtfs_torch_peers(torch, y, notes))
    reference = mf.jtfs(y[:4], format="time", **JTFS_PARAMS)
    result = _section(device, funcs, None, rounds=rounds, audio_seconds=batch * JTFS_SAMPLES / SR)
    for name, entry in result["libraries"].items():
        out = funcs[name][1]()
        entry["parity"] = _parity(out[:4], reference)
    result["cufft_plan_cache"] = _with_larger_plan_cache(device, funcs["modspec"][1], rounds=rounds)
    return result


#: cuFFT plans one jTFS call of this section needs at most (distinct FFT shapes; about 30).
JTFS_PLANS = 64


def _with_larger_plan_cache(device, call, *, rounds):
    """modspec's jTFS timed alone, with CuPy's default cuFFT plan cache and with room for all its plans.

    CuPy keeps 16 cuFFT plans per device and thread by default; a jTFS call
    uses about 30 FFT shapes, so with the default every call may build some
    plans again. The two medians say what that costs (and whether modspec
    should ask for a larger cache).
    """
    cache = device.cupy.fft.config.get_plan_cache()
    default = cache.get_size()
    result = {"default_size": default}
    for label, size in (("default", default), ("large", max(default, JTFS_PLANS))):
        cache.set_size(size)
        times, _ = device.round_robin({"modspec": ("cupy", call)}, rounds=rounds)
        result[f"{label}_median_s"] = statistics.median(times["modspec"])
    result["large_size"] = max(default, JTFS_PLANS)
    cache.set_size(default)
    return result


def _jtfs_torch_peers(torch, y, notes):
    """modspec.nn's jTFS module and (where KYMATIO_DEV points at it) kymatio's, on CUDA tensors."""
    import modspec.nn as mn

    module = mn.TimeFrequencyScattering(shape=JTFS_SAMPLES, **JTFS_PARAMS).cuda()
    y_t = torch.from_numpy(y).cuda()

    def modspec_nn_jtfs():
        with torch.inference_mode():
            return module(y_t)

    funcs = {"modspec_nn_torch": ("torch", modspec_nn_jtfs)}
    kymatio_dev = os.environ.get(KYMATIO_DEV_ENV)
    if not kymatio_dev:
        notes.append(f"jtfs: {KYMATIO_DEV_ENV} is unset, kymatio's development branch skipped")
        return funcs
    sys.path.insert(0, str(Path(kymatio_dev).resolve()))
    kymatio = _optional("kymatio")
    if kymatio is None or not kymatio.__version__.startswith("0.4"):
        notes.append(f"jtfs: {KYMATIO_DEV_ENV}={kymatio_dev} holds no kymatio 0.4 development branch; skipped")
        return funcs
    from kymatio.scattering1d.frontend import torch_frontend

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        peer = torch_frontend.TimeFrequencyScatteringTorch(shape=JTFS_SAMPLES, format="time", **JTFS_PARAMS).cuda()

    def kymatio_jtfs():
        with torch.inference_mode():
            return peer.scattering(y_t)

    funcs["kymatio_torch"] = ("torch", kymatio_jtfs)
    return funcs


def measure(*, batch=BATCH, rounds=DEFAULT_ROUNDS, sections=("transfer", "launch", "melspectrogram", "sinc",
                                                                 "modulation", "nn_train", "jtfs")):
    """Run the sections; the result as a JSON-able dict (``{"skipped": reason}`` without a GPU)."""
    reason = gpu_unavailable_reason()
    if reason is not None:
        return {"skipped": reason}
    import cupy

    torch = _optional("torch")
    device = Device(cupy, torch)
    notes = []
    y = _signals((batch, SECONDS * SR))
    props = cupy.cuda.runtime.getDeviceProperties(cupy.cuda.Device().id)
    result = {
        "device": {"name": props["name"].decode() if isinstance(props["name"], bytes) else props["name"],
                   "total_bytes": int(cupy.cuda.Device().mem_info[1])},
        "versions": {"cupy": cupy.__version__, "torch": getattr(torch, "__version__", None),
                     "numba": importlib.import_module("numba").__version__},
        "batch": list(y.shape),
        "rounds": rounds,
        "sections": {},
        "notes": notes,
    }
    if "transfer" in sections:
        result["sections"]["transfer"] = transfer_section(device, y)
    if "launch" in sections:
        result["sections"]["launch"] = launch_section(device)
    if "melspectrogram" in sections:
        result["sections"]["melspectrogram"] = melspectrogram_section(device, y, notes, rounds=rounds)
    if "sinc" in sections:
        result["sections"]["sinc"] = sinc_section(device, y, notes, rounds=rounds)
    if "modulation" in sections:
        result["sections"].update(modulation_sections(device, batch, notes, rounds=rounds))
    if "nn_train" in sections:
        result["sections"].update(nn_train_sections(device, batch, notes, rounds=rounds))
    if "jtfs" in sections:
        result["sections"]["jtfs"] = jtfs_section(device, batch, notes, rounds=rounds)
    return result


def format_table(result):
    if "skipped" in result:
        return f"GPU comparison skipped: {result['skipped']}"
    lines = [f"{result['device']['name']}, batch {result['batch']}, {result['rounds']} rounds"]
    transfer = result["sections"].get("transfer")
    if transfer:
        lines.append("host-to-device transfer (excluded below): " + ", ".join(
            f"{k} {v['median_s'] * 1e3:.2f} ms ({v['gb_per_s']:.1f} GB/s)" for k, v in transfer.items() if k != "bytes"
        ))
    launch = result["sections"].get("launch")
    if launch:
        lines.append("host cost of one kernel launch: " + ", ".join(
            f"{k} {v['median_s'] * 1e6:.1f} us" for k, v in launch.items()
        ))
    lines.append(f"{'section':<22}{'library':<22}{'median ms':>11}{'modspec x':>11}{'peak MiB':>10}{'max rel err':>13}")
    for section, entry in result["sections"].items():
        if section in ("transfer", "launch"):
            continue
        if "skipped" in entry:
            lines.append(f"{section:<22}skipped: {entry['skipped']}")
            continue
        for lib, r in entry["libraries"].items():
            parity = "-" if r["parity"] is None else f"{r['parity']:.1e}"
            lines.append(f"{section:<22}{lib:<22}{r['median_s'] * 1e3:>11.2f}{r['modspec_speedup']:>11.2f}"
                         f"{r['peak_bytes'] / 2**20:>10.1f}{parity:>13}")
        for row in entry.get("host_profile", []):
            lines.append(f"{section:<22}modspec host: {row['us_per_call']:8.1f} us in {row['function']} "
                         f"({row['calls_per_call']:g} a call)")
        plans = entry.get("cufft_plan_cache")
        if plans:
            lines.append(f"{section:<22}modspec alone: {plans['default_median_s'] * 1e3:.2f} ms with CuPy's cuFFT plan "
                         f"cache of {plans['default_size']}, {plans['large_median_s'] * 1e3:.2f} ms with "
                         f"{plans['large_size']}")
    lines.extend(f"note: {note}" for note in result["notes"])
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.compare_gpu", description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=None, help=f"round-robin rounds (default {DEFAULT_ROUNDS})")
    parser.add_argument("--quick", action="store_true",
                        help=f"smoke run: {QUICK_ROUNDS} rounds and a batch of {QUICK_BATCH} unless given")
    parser.add_argument("--batch", type=int, default=None, help=f"excerpts per batch (default {BATCH})")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"JSON output (default {DEFAULT_OUT})")
    args = parser.parse_args(argv)
    rounds = args.rounds or (QUICK_ROUNDS if args.quick else DEFAULT_ROUNDS)
    batch = args.batch or (QUICK_BATCH if args.quick else BATCH)
    result = measure(batch=batch, rounds=rounds)
    print(format_table(result))
    write_result(result, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
