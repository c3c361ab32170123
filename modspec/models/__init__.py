"""The papers' models: a :mod:`modspec.nn` front end plus the paper's CNN back end, from a registry.

>>> import modspec.models as mm
>>> mm.available()
['choi2018', 'dieleman2014', 'harmoniccnn', 'jtfs_packnet', 'modnet', 'sincmodnet', 'tmnn']

``build(name, n_classes=50, sample_rate=16000, **options)`` returns a
:class:`TaggingModel`: ``forward(waveform (B, n_samples)) -> logits (B,
n_classes)``, with ``frontend`` and ``backend`` attributes, the training
window ``n_samples`` and the paper's loss. Each builder's docstring cites its
paper and lists its options; :func:`summary` counts parameters.

Importing this package imports torch (the ``torch`` extra).
"""

from modspec.models._base import TaggingModel
from modspec.models._registry import available, build, builder, count_parameters, option_names, summary

__all__ = ["TaggingModel", "available", "build", "builder", "count_parameters", "option_names", "summary"]
