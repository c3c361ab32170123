"""The registry of :mod:`modspec.models`: names to builders, imported only when used."""

import importlib
import inspect

from modspec.errors import ParameterError, check_positive_int, check_sample_rate

__all__ = ["available", "build", "builder", "count_parameters", "option_names", "summary"]

# name -> (module, function). Builders take (n_classes, sample_rate, **options) and return a TaggingModel.
_BUILDERS = {
    "dieleman2014": ("modspec.models.dieleman", "dieleman2014"),
    "choi2018": ("modspec.models.choi", "choi2018"),
    "modnet": ("modspec.models.vahidi", "modnet"),
    "sincmodnet": ("modspec.models.vahidi", "sincmodnet"),
    "harmoniccnn": ("modspec.models.tmnn", "harmoniccnn"),
    "tmnn": ("modspec.models.tmnn", "tmnn"),
    "jtfs_packnet": ("modspec.models.packnet", "jtfs_packnet"),
}


def available():
    """Names :func:`build` accepts, sorted."""
    return sorted(_BUILDERS)


def builder(name):
    """The function that builds model ``name``; its docstring cites the paper and lists the options."""
    if name not in _BUILDERS:
        raise ParameterError(f"unknown model {name!r}; available models: {', '.join(available())}")
    module, function = _BUILDERS[name]
    return getattr(importlib.import_module(module), function)


def option_names(name):
    """Names of the options model ``name`` accepts: its builder's keyword-only parameters."""
    return [
        p.name for p in inspect.signature(builder(name)).parameters.values()
        if p.kind is p.KEYWORD_ONLY and p.name not in ("n_classes", "sample_rate")
    ]


def build(name, n_classes=50, sample_rate=16000, **options):
    """Build model ``name`` of :func:`available`.

    Parameters
    ----------
    name : str
        A name of :func:`available`.
    n_classes : int > 0
        Number of outputs (50 tags for MTAT's top 50, 35 words for Speech Commands).
    sample_rate : float > 0
        Rate in Hz of the input waveforms (the data is resampled to it).
    **options
        The model's options, listed in its builder's docstring
        (``help(modspec.models.builder(name))``); an unknown option raises.

    Returns
    -------
    TaggingModel
        ``forward(waveform (B, n_samples)) -> logits (B, n_classes)``.
    """
    function = builder(name)
    n_classes = check_positive_int("n_classes", n_classes)
    sample_rate = check_sample_rate("sample_rate", sample_rate)
    accepted = option_names(name)
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise ParameterError(
            f"model {name!r} has no option {', '.join(map(repr, unknown))}; its options are {accepted}"
        )
    return function(n_classes=n_classes, sample_rate=sample_rate, **options)


def count_parameters(module, *, trainable_only=False):
    """Number of scalar parameters of ``module`` (only those with ``requires_grad`` if ``trainable_only``)."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only)


def summary(name, n_classes=50, sample_rate=16000, **options):
    """A text table of model ``name``'s parameters: front end, each back-end block, total.

    Returns
    -------
    str
        One line per child of ``frontend`` and ``backend`` with its parameter
        count, then the totals; print it.
    """
    model = build(name, n_classes=n_classes, sample_rate=sample_rate, **options)
    options_text = ", ".join(f"{k}={v!r}" for k, v in sorted(options.items()))
    header = (
        f"{name}({options_text})  n_classes={n_classes}  sample_rate={sample_rate:g} Hz  "
        f"window={model.n_samples} samples ({model.n_samples / model.sample_rate:.2f} s)  loss={model.loss}"
    )
    lines = [header, f"{'block':<40} {'parameters':>12}"]
    for part in ("frontend", "backend"):
        module = getattr(model, part)
        children = list(module.named_children()) or [("", module)]
        for child_name, child in children:
            label = f"{part}.{child_name}" if child_name else part
            lines.append(f"{label + ' (' + type(child).__name__ + ')':<40} {count_parameters(child):>12,}")
    total, trainable = count_parameters(model), count_parameters(model, trainable_only=True)
    lines.append(f"{'total':<40} {total:>12,}")
    lines.append(f"{'trainable':<40} {trainable:>12,}")
    return "\n".join(lines)

