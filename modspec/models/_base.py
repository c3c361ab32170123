"""What every model of :mod:`modspec.models` shares: a front end, a back end, a clip length and a loss."""

import torch
from torch import nn

from modspec.errors import ParameterError, check_positive_int
from modspec.nn._base import check_tensor

__all__ = ["LOSSES", "TaggingModel", "check_options"]

#: Training losses a model can declare, and the activation that turns its logits into predictions.
LOSSES = {
    "bce": torch.sigmoid,  # multi-label tagging (MTAT, MSD)
    "mse": torch.sigmoid,  # Raghavan: squared error on sigmoid outputs
    "ce": lambda logits: torch.softmax(logits, dim=-1),  # one label per clip (Speech Commands)
}


def check_options(name, options, allowed):
    """Raise a ParameterError naming every option of ``options`` that ``allowed`` does not list."""
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise ParameterError(
            f"model {name!r} has no option {', '.join(map(repr, unknown))}; its options are {sorted(allowed)}"
        )


class TaggingModel(nn.Module):
    """A front end followed by a back end: waveform (B, n_samples) in, logits (B, n_classes) out.

    Parameters
    ----------
    frontend : torch.nn.Module
        Waveform (B, n_samples) -> features (any shape the back end takes).
    backend : torch.nn.Module
        Features -> logits (B, n_classes).
    sample_rate : int
        Rate in Hz the model expects its input at (resample before calling).
    n_samples : int
        The training window, in samples: the clip length the paper trains on.
    n_classes : int
        Number of outputs.
    loss : {'bce', 'ce', 'mse'}
        The training loss the paper uses: binary cross-entropy on sigmoid
        outputs (tagging), cross-entropy (one label per clip) or mean squared
        error on sigmoid outputs.

    Notes
    -----
    ``forward`` returns logits; :meth:`predict` applies the activation of the
    loss (sigmoid or softmax). Under ``torch.autocast`` (mixed-precision
    training) only the back end runs in reduced precision: the front end
    computes at the waveform's precision. :meth:`predict_clip` slides the
    training window over whole clips and averages the window predictions, as
    Dieleman & Schrauwen (2014) and the papers after them evaluate.
    """

    def __init__(self, frontend, backend, *, sample_rate, n_samples, n_classes, loss="bce"):
        super().__init__()
        if loss not in LOSSES:
            raise ParameterError(f"loss={loss!r} is not one of {sorted(LOSSES)}")
        self.frontend = frontend
        self.backend = backend
        self.sample_rate = int(sample_rate)
        self.n_samples = check_positive_int("n_samples", n_samples)
        self.n_classes = check_positive_int("n_classes", n_classes)
        self.loss = loss

    def forward(self, waveform):
        """Logits (B, n_classes) of a batch of waveforms (B, n_samples)."""
        check_tensor("waveform", waveform, min_ndim=2, layout="(batch, n_samples)")
        if waveform.ndim != 2:
            raise ParameterError(f"waveform must have shape (batch, n_samples), got {tuple(waveform.shape)}")
        # Mixed precision (autocast) is for the back end: the front end runs at the waveform's
        # precision, since its FFTs, logarithms and dB scales need it (cuFFT's float16 takes powers
        # of two only, and the learnable filter designs are float32 parameters).
        with torch.autocast(waveform.device.type, enabled=False):
            features = self.frontend(waveform)
        return self.backend(features)

    def predict(self, waveform):
        """Class probabilities (B, n_classes): the loss's activation of :meth:`forward`."""
        return LOSSES[self.loss](self(waveform))

    @torch.no_grad()
    def predict_clip(self, waveform, *, hop=None, batch_size=16):
        """Average the window predictions over whole clips.

        Parameters
        ----------
        waveform : torch.Tensor, shape (n_samples,) or (B, n_samples)
            Whole clips, of any length; clips shorter than the window are
            zero-padded to one window.
        hop : int > 0 or None
            Step between windows in samples; None means consecutive windows
            (hop = ``n_samples``). A tail shorter than a window gets one last
            window aligned to the clip's end.
        batch_size : int > 0
            Windows per forward pass.

        Returns
        -------
        torch.Tensor, shape (n_classes,) or (B, n_classes)
            Mean of :meth:`predict` over the windows of each clip.
        """
        check_tensor("waveform", waveform, min_ndim=1, layout="(n_samples,) or (batch, n_samples)")
        single = waveform.ndim == 1
        clips = waveform[None] if single else waveform
        if clips.ndim != 2:
            raise ParameterError(f"waveform must be (n_samples,) or (batch, n_samples), got {tuple(waveform.shape)}")
        hop = check_positive_int("hop", self.n_samples if hop is None else hop)
        batch_size = check_positive_int("batch_size", batch_size)
        windows, owner = window_clips(clips, self.n_samples, hop)
        probs = torch.cat([self.predict(chunk) for chunk in windows.split(batch_size)])
        counts = torch.bincount(owner, minlength=clips.shape[0]).to(probs.dtype)
        mean = torch.zeros(clips.shape[0], probs.shape[1], dtype=probs.dtype, device=probs.device)
        mean.index_add_(0, owner, probs)
        mean /= counts[:, None]
        return mean[0] if single else mean


def window_clips(clips, n_samples, hop):
    """Cut clips (B, L) into windows (W, n_samples) and say which clip each came from (W,)."""
    length = clips.shape[-1]
    if length < n_samples:
        clips = nn.functional.pad(clips, (0, n_samples - length))
        length = n_samples
    starts = list(range(0, length - n_samples + 1, hop))
    if starts[-1] + n_samples < length:  # a tail: one window aligned to the end
        starts.append(length - n_samples)
    windows = torch.stack([clips[:, s : s + n_samples] for s in starts], dim=1)  # (B, n_windows, n)
    owner = torch.arange(clips.shape[0], device=clips.device).repeat_interleave(len(starts))
    return windows.reshape(-1, n_samples), owner
