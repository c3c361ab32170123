"""Training throughput of the papers' models (``modspec.models``).

One training step (forward, loss, backward, Adam step) of every model of
``modspec.models.available()`` with its default options, on a seeded batch of
16 clips of the model's own window (``model.n_samples``: the clip length its
paper trains on) and seeded multi-hot targets, with the model's loss. The
``device`` parameter runs the same step on CUDA, synchronising the GPU at the
end of each step; it is skipped without a CUDA device.

``jtfs_packnet`` is the exception: its front end (the torch jTFS) has no
parameters and takes about a minute per clip on the CPU at the default window,
and its paper's practice is to compute the features once. Its step trains the
back end on precomputed ``JTFSTensor`` outputs, (16, N, J2, J_fr); the feature
extraction is timed apart (``JTFSFeatures``, the NumPy
``modspec.features.scattering.jtfs_tensor``, CPU only).

``setup`` builds the model, the optimiser and the batch and runs one step, so
the first call's costs (allocations, numba compilation) are never timed.
``benchmarks/compare_models.py`` imports the helpers below, so both measure the
same step.
"""

import inspect
import statistics
import time

import numpy as np

from .common import SEED, require, safe_import

torch = safe_import("torch")
models = safe_import("modspec.models")  # imports torch: None without it
scattering = safe_import("modspec.features.scattering")

#: Clips per training step (the issue's batch).
BATCH = 16
#: Learning rate of the papers' Adam (Vahidi et al. 2021; the training recipe's default).
LEARNING_RATE = 1e-3
#: Fraction of positive labels in the seeded multi-hot targets (about 5 of MTAT's top 50 tags).
POSITIVE_RATE = 0.1
#: The model whose front end is not trained: its step trains the back end on precomputed features.
PRECOMPUTED = "jtfs_packnet"
#: The registry's names when this commit cannot import it (the benchmarks are then skipped).
MODEL_NAMES = tuple(models.available()) if models is not None and hasattr(models, "available") else (
    "choi2018", "dieleman2014", "harmoniccnn", "jtfs_packnet", "modnet", "sincmodnet", "tmnn",
)
DEVICES = ("cpu", "cuda")
#: Steps timed by ``track_clips_per_second`` (median).
TRACK_STEPS = 3


def require_device(device):
    """Raise NotImplementedError (asv: skipped) unless torch can run on ``device``."""
    if torch is None:
        raise NotImplementedError("torch is not installed (modspec[torch])")
    if device == "cuda" and not torch.cuda.is_available():
        raise NotImplementedError("no CUDA device")


def synchronize(device):
    """Wait for the GPU's queued work (a no-op on the CPU), so that a timer sees it all."""
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)


def loss_function(kind):
    """``f(logits, target) -> loss`` of a model's declared loss (as ``modspec.train`` computes it)."""
    F = torch.nn.functional
    if kind == "bce":
        return F.binary_cross_entropy_with_logits
    if kind == "ce":
        return F.cross_entropy
    if kind == "mse":  # Raghavan: squared error between the sigmoid outputs and the labels
        return lambda logits, target: F.mse_loss(torch.sigmoid(logits), target)
    raise ValueError(f"loss={kind!r} is not one of 'bce', 'ce', 'mse'")


def jtfs_options(options=None, name=PRECOMPUTED):
    """The jTFS options (J, Q, J_fr, Q_fr, T, F, eps) of model ``name``: its builder's defaults, updated by ``options``."""
    parameters = inspect.signature(models.builder(name)).parameters
    keys = ("J", "Q", "J_fr", "Q_fr", "T", "F", "eps")
    return {key: (options or {}).get(key, parameters[key].default) for key in keys}


def make_batch(model, batch, *, precomputed=False, seed=SEED):
    """A seeded batch ``(inputs, targets)`` (CPU tensors) for one training step of ``model``.

    Parameters
    ----------
    model : modspec.models.TaggingModel
    batch : int > 0
        Clips in the batch.
    precomputed : bool
        False: waveforms (batch, model.n_samples), 0.1 x standard normal
        noise. True: stand-ins for the front end's outputs,
        (batch, *model.frontend.output_shape), uniform in [0, 1) (a jTFS
        tensor is non-negative; the back end's cost does not depend on the
        values).
    seed : int

    Returns
    -------
    inputs : torch.Tensor, float32
    targets : torch.Tensor
        Multi-hot float32 (batch, n_classes) for the 'bce' and 'mse' losses,
        class indices int64 (batch,) for 'ce'.
    """
    rng = np.random.default_rng(seed)
    if precomputed:
        inputs = rng.random((batch, *model.frontend.output_shape))
    else:
        inputs = 0.1 * rng.standard_normal((batch, model.n_samples))
    if model.loss == "ce":
        targets = torch.from_numpy(rng.integers(0, model.n_classes, batch))
    else:
        targets = torch.from_numpy((rng.random((batch, model.n_classes)) < POSITIVE_RATE).astype(np.float32))
    return torch.from_numpy(inputs.astype(np.float32)), targets


class TrainStep:
    """One Adam step of a model on ``batch`` clips on ``device``: ``step()`` runs it, synchronised.

    Parameters
    ----------
    name : str
        A name of ``modspec.models.available()``.
    options : dict or None
        Options of ``modspec.models.build``; None: the defaults (the paper's set-up).
    batch : int > 0
    device : str
        A torch device ('cpu', 'cuda', 'cuda:1', ...).
    warmup : int >= 0
        Untimed steps run here.

    Attributes
    ----------
    model : modspec.models.TaggingModel
    network : torch.nn.Module
        What is trained: the model, or its back end for ``jtfs_packnet``.
    precomputed : bool
        True when ``network`` is the back end on precomputed front-end outputs.
    inputs, targets : torch.Tensor
        The batch, on ``device``.
    clip_seconds : float
        Length of one clip, ``model.n_samples / model.sample_rate``.
    """

    def __init__(self, name, *, options=None, batch=BATCH, device="cpu", warmup=1):
        self.name, self.batch, self.device = name, int(batch), torch.device(device)
        torch.manual_seed(SEED)  # the same initial weights every time
        self.model = models.build(name, **(options or {}))
        self.precomputed = name == PRECOMPUTED
        self.network = (self.model.backend if self.precomputed else self.model).to(self.device).train()
        self.optimizer = torch.optim.Adam(self.network.parameters(), lr=LEARNING_RATE)
        self.loss = loss_function(self.model.loss)
        inputs, targets = make_batch(self.model, self.batch, precomputed=self.precomputed)
        self.inputs, self.targets = inputs.to(self.device), targets.to(self.device)
        self.clip_seconds = self.model.n_samples / self.model.sample_rate
        for _ in range(int(warmup)):
            self.step()

    def step(self):
        """One training step; returns once the device has finished it."""
        self.optimizer.zero_grad(set_to_none=True)
        loss = self.loss(self.network(self.inputs), self.targets)
        loss.backward()
        self.optimizer.step()
        synchronize(self.device)
        return loss


class TrainThroughput:
    """Training step of every model, batch 16, default options (``jtfs_packnet``: its back end)."""

    params = (list(MODEL_NAMES), list(DEVICES))
    param_names = ("model", "device")
    # A step takes up to ~10 s on a 2-core CPU (harmoniccnn, tmnn): one call per sample, few samples.
    number = 1
    repeat = (1, 5, 60.0)
    warmup_time = 0.0
    timeout = 600

    def setup(self, name, device):
        require_device(device)
        require(models, "available", "build", "builder")
        if name not in models.available():
            raise NotImplementedError(f"no model {name!r} at this commit")
        self.train = TrainStep(name, batch=BATCH, device=device, warmup=1)

    def time_train_step(self, name, device):
        self.train.step()

    def peakmem_train_step(self, name, device):
        self.train.step()

    def track_clips_per_second(self, name, device):
        times = []
        for _ in range(TRACK_STEPS):
            t0 = time.perf_counter()
            self.train.step()
            times.append(time.perf_counter() - t0)
        return self.train.batch / statistics.median(times)

    track_clips_per_second.unit = "clips/s"


class JTFSFeatures:
    """``jtfs_packnet``'s features with the NumPy ``jtfs_tensor`` (its default options), one clip."""

    number = 1
    repeat = (1, 5, 60.0)
    warmup_time = 0.0
    timeout = 600

    def setup(self):
        require_device("cpu")
        require(models, "builder")
        require(scattering, "jtfs_tensor")
        model = models.build(PRECOMPUTED)
        self.options = jtfs_options()
        rng = np.random.default_rng(SEED)
        self.y = (0.1 * rng.standard_normal((1, model.n_samples))).astype(np.float32)
        scattering.jtfs_tensor(self.y, **self.options)  # numba compilation, filter plans

    def time_jtfs_tensor(self):
        scattering.jtfs_tensor(self.y, **self.options)

    def peakmem_jtfs_tensor(self):
        scattering.jtfs_tensor(self.y, **self.options)
