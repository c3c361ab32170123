"""The GPU backend (``modspec.kernels.gpu`` through ``modspec.features`` on CuPy arrays) and torch on CUDA.

Parameter sets: a batch of 64 five-second excerpts at 16 kHz, float32,
already on the device (host-to-device transfer is ``time_transfer_*``, apart);
the TMNN / Choi et al. mel front end (n_fft 512, hop 256, 96 mels); Vahidi et
al.'s sinc layer 1-80-256-10 and modulation layer 80-20-128-160; Ma & Stern's
4 x 101-tap modulation filters ('same') on 96 bands at 62.5 frames/s; the
jTFS of ``benchmarks/benchmarks/scattering.py`` (J=6, J_fr=2, Q=(8, 2)) on
(64, 16384), on CuPy arrays and through ``modspec.nn.TimeFrequencyScattering``
on CUDA, and the time scattering (J=6, Q=(8, 2)) on CuPy arrays.

Every timed call ends with a device synchronisation. ``setup`` runs each call
once (numba compilation, cuFFT plans). ``track_peak_bytes_*`` record the
device memory of one call (CuPy's pool from empty, or torch's peak
statistics). Without CuPy and a CUDA device every benchmark raises
``NotImplementedError`` in ``setup`` (asv: skipped).
"""

import numpy as np

from .common import MODULATION_LAYER, N_FFT, N_MELS, SEED, SINC_LAYER, SR, TMNN_LAYER, require, safe_import

HOP = 256
BATCH = 64
SHAPE = (BATCH, 5 * SR)
JTFS_PARAMS = {"J": 6, "J_fr": 2, "Q": (8, 2)}
JTFS_SHAPE = (BATCH, 16384)

features = safe_import("modspec.features")


def _require_gpu():
    """CuPy, or NotImplementedError (asv: skipped) without CuPy or a CUDA device."""
    require(features, "melspectrogram")
    require(safe_import("modspec._backend"), "is_cupy")
    cupy = safe_import("cupy")
    if cupy is None:
        raise NotImplementedError("CuPy is not installed (modspec[gpu])")
    try:
        if cupy.cuda.runtime.getDeviceCount() < 1:
            raise NotImplementedError("no CUDA device")
    except cupy.cuda.runtime.CUDARuntimeError as exc:
        raise NotImplementedError(f"no usable CUDA device: {exc}") from None
    return cupy


def _require_torch_cuda():
    torch = safe_import("torch")
    if torch is None or not torch.cuda.is_available():
        raise NotImplementedError("torch with CUDA is not available")
    return torch


def _noise(shape):
    return (0.1 * np.random.default_rng(SEED).standard_normal(shape)).astype(np.float32)


def _envelopes(shape):
    return np.abs(np.random.default_rng(SEED).standard_normal(shape)).astype(np.float32)


def _sync(cupy):
    cupy.cuda.Device().synchronize()


def _pool_peak(cupy, call):
    pool = cupy.get_default_memory_pool()
    _sync(cupy)
    pool.free_all_blocks()
    base = pool.total_bytes()
    out = call()
    _sync(cupy)
    del out
    return pool.total_bytes() - base


def _torch_peak(torch, call):
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    base = torch.cuda.memory_allocated()
    out = call()
    torch.cuda.synchronize()
    del out
    return torch.cuda.max_memory_allocated() - base


class Transfer:
    def setup(self):
        self.cupy = _require_gpu()
        self.y = _noise(SHAPE)
        self.time_transfer_cupy()

    def time_transfer_cupy(self):
        self.cupy.asarray(self.y)
        _sync(self.cupy)


class MelSpectrogramGPU:
    def setup(self):
        self.cupy = _require_gpu()
        self.y = self.cupy.asarray(_noise(SHAPE))
        self.kwargs = dict(sr=SR, n_fft=N_FFT, hop_length=HOP, n_mels=N_MELS)
        self.time_melspectrogram()

    def _call(self):
        return features.melspectrogram(self.y, **self.kwargs)

    def time_melspectrogram(self):
        self._call()
        _sync(self.cupy)

    def track_peak_bytes_melspectrogram(self):
        return _pool_peak(self.cupy, self._call)

    track_peak_bytes_melspectrogram.unit = "bytes"


class TorchMelSpectrogramCUDA:
    """The peer: torch.stft + |X|^2 + matmul with modspec's mel matrix, on CUDA."""

    def setup(self):
        self.torch = torch = _require_torch_cuda()
        require(safe_import("modspec.filters"), "mel")
        from modspec import filters

        self.y = torch.from_numpy(_noise(SHAPE)).cuda()
        self.window = torch.hann_window(N_FFT, periodic=True, device="cuda")
        self.mel = torch.from_numpy(np.ascontiguousarray(filters.mel(sr=SR, n_fft=N_FFT, n_mels=N_MELS))).cuda()
        self.time_torch_melspectrogram()

    def _call(self):
        torch = self.torch
        with torch.inference_mode():
            X = torch.stft(self.y, N_FFT, HOP, window=self.window, center=True, pad_mode="constant",
                           return_complex=True)
            return torch.matmul(self.mel, X.real**2 + X.imag**2)

    def time_torch_melspectrogram(self):
        self._call()
        self.torch.cuda.synchronize()

    def track_peak_bytes_torch_melspectrogram(self):
        return _torch_peak(self.torch, self._call)

    track_peak_bytes_torch_melspectrogram.unit = "bytes"


class FrontEndsGPU:
    """Vahidi et al.'s sinc and modulation layers and TMNN's modulation filters on CuPy arrays."""

    def setup(self):
        self.cupy = cupy = _require_gpu()
        self.y = cupy.asarray(_noise(SHAPE))
        m, t = MODULATION_LAYER, TMNN_LAYER
        self.S_mod = cupy.asarray(_envelopes((BATCH, m["n_bands"], m["n_frames"])))
        self.S_tmnn = cupy.asarray(_envelopes((BATCH, t["n_bands"], t["n_frames"])))
        self.time_sinc()
        self.time_modulation()
        self.time_tmnn()

    def _sinc(self):
        layer = SINC_LAYER
        return features.sinc_filterbank(self.y, SR, n_filters=layer["n_filters"], kernel_size=layer["kernel_size"],
                                        stride=layer["stride"])

    def _modulation(self, S, layer, padding):
        return features.modulation_filterbank(S, frame_rate=layer["frame_rate"], n_filters=layer["n_filters"],
                                              kernel_size=layer["kernel_size"], stride=layer["stride"],
                                              padding=padding)

    def time_sinc(self):
        self._sinc()
        _sync(self.cupy)

    def time_modulation(self):
        self._modulation(self.S_mod, MODULATION_LAYER, "valid")
        _sync(self.cupy)

    def time_tmnn(self):
        self._modulation(self.S_tmnn, TMNN_LAYER, "same")
        _sync(self.cupy)

    def track_peak_bytes_sinc(self):
        return _pool_peak(self.cupy, self._sinc)

    track_peak_bytes_sinc.unit = "bytes"


class TorchConvCUDA:
    """The peer of FrontEndsGPU: conv1d with the same filters on CUDA."""

    def setup(self):
        self.torch = torch = _require_torch_cuda()
        require(safe_import("modspec.filters"), "sinc_bandpass", "modulation_sinc")
        from modspec import filters

        layer, m, t = SINC_LAYER, MODULATION_LAYER, TMNN_LAYER
        self.y = torch.from_numpy(_noise(SHAPE)).cuda()[:, None, :]
        self.w_sinc = torch.from_numpy(np.ascontiguousarray(filters.sinc_bandpass(
            layer["n_filters"], layer["kernel_size"], sr=SR, dtype=np.float32).filters[:, None, :])).cuda()
        self.S_mod = torch.from_numpy(_envelopes((BATCH * m["n_bands"], 1, m["n_frames"]))).cuda()
        self.w_mod = torch.from_numpy(np.ascontiguousarray(filters.modulation_sinc(
            m["n_filters"], m["kernel_size"], frame_rate=m["frame_rate"], dtype=np.float32).filters[:, None, :])).cuda()
        self.S_tmnn = torch.from_numpy(_envelopes((BATCH * t["n_bands"], 1, t["n_frames"]))).cuda()
        self.w_tmnn = torch.from_numpy(np.ascontiguousarray(filters.modulation_sinc(
            t["n_filters"], t["kernel_size"], frame_rate=t["frame_rate"], dtype=np.float32).filters[:, None, :])).cuda()
        self.time_torch_sinc()
        self.time_torch_modulation()
        self.time_torch_tmnn()

    def _conv(self, x, w, stride, padding):
        with self.torch.inference_mode():
            self.torch.nn.functional.conv1d(x, w, stride=stride, padding=padding)
        self.torch.cuda.synchronize()

    def time_torch_sinc(self):
        self._conv(self.y, self.w_sinc, SINC_LAYER["stride"], 0)

    def time_torch_modulation(self):
        self._conv(self.S_mod, self.w_mod, MODULATION_LAYER["stride"], 0)

    def time_torch_tmnn(self):
        self._conv(self.S_tmnn, self.w_tmnn, 1, (TMNN_LAYER["kernel_size"] - 1) // 2)


class JTFSGPU:
    """modspec.features.jtfs and scattering on CuPy arrays (numba.cuda kernels, cuFFT, cuBLAS)."""

    def setup(self):
        self.cupy = _require_gpu()
        require(features, "jtfs")
        self.y = self.cupy.asarray(_noise(JTFS_SHAPE))
        self.time_jtfs()
        self.time_scattering()

    def _jtfs(self):
        return features.jtfs(self.y, **JTFS_PARAMS)

    def _scattering(self):
        return features.scattering(self.y, J=JTFS_PARAMS["J"], Q=JTFS_PARAMS["Q"])

    def time_jtfs(self):
        self._jtfs()
        _sync(self.cupy)

    def time_scattering(self):
        self._scattering()
        _sync(self.cupy)

    def track_peak_bytes_jtfs(self):
        return _pool_peak(self.cupy, self._jtfs)

    track_peak_bytes_jtfs.unit = "bytes"

    def track_peak_bytes_scattering(self):
        return _pool_peak(self.cupy, self._scattering)

    track_peak_bytes_scattering.unit = "bytes"


class JTFSCUDA:
    """modspec.nn.TimeFrequencyScattering on a CUDA tensor (the differentiable module)."""

    def setup(self):
        self.torch = torch = _require_torch_cuda()
        nn = safe_import("modspec.nn")
        require(nn, "TimeFrequencyScattering")
        self.module = nn.TimeFrequencyScattering(shape=JTFS_SHAPE[-1], **JTFS_PARAMS).cuda()
        self.y = torch.from_numpy(_noise(JTFS_SHAPE)).cuda()
        self.time_jtfs()

    def _call(self):
        with self.torch.inference_mode():
            return self.module(self.y)

    def time_jtfs(self):
        self._call()
        self.torch.cuda.synchronize()

    def track_peak_bytes_jtfs(self):
        return _torch_peak(self.torch, self._call)

    track_peak_bytes_jtfs.unit = "bytes"
