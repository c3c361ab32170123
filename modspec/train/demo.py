"""``modspec demo``: train the mel baseline and SincModNet on the synthetic set and compare them per tag."""

import time
from pathlib import Path

from modspec.train.run import train_model, write_json
from modspec.train.trainer import TrainConfig, evaluate

__all__ = ["DEMO_MODELS", "run_demo"]

#: The two models the demo compares: (name, options, epochs). Both see 3 s windows
#: of the 4 s synthetic clips; the budgets were set for about 5 minutes in all on a 2-core CPU.
DEMO_MODELS = (
    ("dieleman2014", {"frontend": "mel"}, 20),
    ("sincmodnet", {"duration": 3.0}, 8),
)


def _table(results):
    names = list(results)
    tags = [row["tag"] for row in results[names[0]]["per_tag"]]
    head = f"{'tag':<16}" + "".join(f"{name:>26}" for name in names)
    sub = f"{'':<16}" + "".join(f"{'ROC-AUC':>14}{'PR-AUC':>12}" for _ in names)
    fmt = lambda v: "n/a" if v is None else f"{v:.3f}"
    lines = [head, sub, "-" * len(sub)]
    lines.append(f"{'macro':<16}" + "".join(f"{fmt(results[n]['roc_auc']):>14}{fmt(results[n]['pr_auc']):>12}"
                                            for n in names))
    for k, tag in enumerate(tags):
        cells = "".join(f"{fmt(results[n]['per_tag'][k]['roc_auc']):>14}{fmt(results[n]['per_tag'][k]['pr_auc']):>12}"
                        for n in names)
        lines.append(f"{tag:<16}{cells}")
    return "\n".join(lines)


def _plot(results, sinc_model, initial_filters, out):
    import matplotlib.pyplot as plt

    from modspec import display

    fig = display.tag_metrics(results, metric="roc_auc", title="synthetic test set: ROC-AUC per tag")
    bars = out / "roc_auc_per_tag.png"
    fig.savefig(bars, dpi=100)
    plt.close(fig)

    bank = sinc_model.frontend.modulation
    frame_rate = sinc_model.sample_rate / sinc_model.frontend.sinc.stride
    learned = bank.filter_bank().detach().double().cpu().numpy()
    fig, axes = plt.subplots(1, 2, figsize=(11, 4), layout="constrained", sharey=True)
    display.modulation_filter_responses(initial_filters, frame_rate=frame_rate, ax=axes[0], title="initial")
    display.modulation_filter_responses(learned, frame_rate=frame_rate, ax=axes[1], title="learned")
    fig.suptitle("SincModNet modulation filters")
    responses = out / "modulation_filters.png"
    fig.savefig(responses, dpi=100)
    plt.close(fig)
    return bars, responses


def run_demo(out="demo_out", *, n_train=320, duration=4.0, seed=0, models=DEMO_MODELS, workers=0, progress=True):
    """Train each model of ``models`` on the synthetic set, then print and plot their per-tag test scores.

    Parameters
    ----------
    out : str or Path
        Output folder: one run folder per model (re-running resumes them), ``metrics.json``,
        ``roc_auc_per_tag.png`` and ``modulation_filters.png``.
    n_train : int
        Training clips (a quarter as many for validation, half for test).
    duration : float
        Length of the synthetic clips in seconds.
    seed : int
        Seeds the data and the models.
    models : sequence of (name, options, epochs)
        What to train; the last SincModNet of the list is plotted.

    Returns
    -------
    dict
        ``{model name: test metrics}``.
    """
    from modspec.data import open_data

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    data = f"synthetic:{n_train}"
    results, sinc_model, initial_filters = {}, None, None
    for name, options, epochs in models:
        start = time.perf_counter()
        config = TrainConfig(epochs=epochs, batch_size=16, seed=seed, workers=workers, progress=progress)
        initial = None
        if name == "sincmodnet":  # the filters before training, for the plot
            import torch

            from modspec.data import Synthetic
            from modspec.models import build

            torch.manual_seed(seed)
            initial = build(name, n_classes=len(Synthetic.TAGS), **options).frontend.modulation.filter_bank().detach().double().numpy()
        print(f"training {name} {options or ''} for {epochs} epochs on {data} ({duration:g} s clips)", flush=True)
        model, result = train_model(name, data, out / name, options=options, config=config,
                                    resume=(out / name / "last.pt").exists(), duration=duration)
        test = open_data(data, "test", sample_rate=model.sample_rate, crop=None, seed=seed, duration=duration)
        metrics = evaluate(model, test, progress=progress)
        results[name] = metrics
        print(f"{name}: best epoch {result['best_epoch']}, valid loss {result['best_valid_loss']:.4f}, "
              f"{time.perf_counter() - start:.0f} s")
        if initial is not None:
            sinc_model, initial_filters = model, initial
    print()
    print(_table(results))
    write_json(out / "metrics.json", results)
    written = [out / "metrics.json"]
    if sinc_model is not None:
        written += _plot(results, sinc_model, initial_filters, out)
    print("wrote " + ", ".join(str(p) for p in written))
    return results

