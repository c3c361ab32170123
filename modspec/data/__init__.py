"""PyTorch datasets for the experiments: MagnaTagATune, Speech Commands, any tagged folder, a synthetic set.

Every dataset returns ``(waveform, target)`` items: a float32 tensor of shape
``(n_samples,)`` at the dataset's ``sample_rate`` and a target tensor (float32
multi-hot for ``task == 'tagging'``, int64 scalar for ``'classification'``),
or ``None`` for a file that cannot be read. :func:`collate` batches them for a
``torch.utils.data.DataLoader`` and drops the ``None``::

    loader = DataLoader(MTAT(root, "train", crop=59049), batch_size=16,
                        shuffle=True, num_workers=4, collate_fn=collate)
    for epoch in range(n_epochs):
        loader.dataset.set_epoch(epoch)  # new, reproducible crops each epoch
        for batch in loader:
            if batch is None:            # every file of the batch was unreadable
                continue
            waveforms, targets = batch

Importing this package imports torch (the ``torch`` extra).
"""

try:
    import torch  # noqa: F401
except ImportError as err:  # pragma: no cover - exercised with torch hidden
    raise ImportError("modspec.data needs PyTorch: pip install 'modspec[torch]'") from err

from modspec.data.datasets import MTAT, AudioDataset, SpeechCommands, TagFolder, UnreadableAudioWarning, collate
from modspec.data.spec import DATA_SPECS, open_data
from modspec.data.synthetic import Synthetic

__all__ = [
    "DATA_SPECS",
    "MTAT",
    "AudioDataset",
    "SpeechCommands",
    "Synthetic",
    "TagFolder",
    "UnreadableAudioWarning",
    "collate",
    "open_data",
]
