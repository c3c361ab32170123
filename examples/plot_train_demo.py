"""
Training the demo models and reading the per-tag results
========================================================

``modspec demo`` trains two models of :mod:`modspec.models` on the synthetic
tagging set of :class:`modspec.data.Synthetic`, whose tags say how each clip
was made (tremolo, vibrato, glissando, pulse, timbre, register), and compares
them tag by tag: Dieleman & Schrauwen's mel-spectrogram CNN and Vahidi et
al.'s SincModNet, whose learnable sinc and modulation filters are made to see
such modulations.

The full demo takes about five minutes on a 2-core CPU (``modspec demo``, or
``make demo``). Here the same code, :func:`modspec.train.demo.run_demo`,
runs with a tiny budget: 16 training clips of 2 s, two epochs of the mel
model and one of SincModNet, so that the page builds in about 20 seconds.
Its scores are therefore close to chance; the point is the workflow and how
to read the results.
"""

# %%
# Train
# -----
# Each model is trained with the papers' recipe (:class:`modspec.train.TrainConfig`:
# Adam, learning rate 1e-3, best epoch by validation loss) into its own run
# folder, then evaluated on whole test clips. ``models`` lists
# ``(name, options, epochs)``; the options are those of the model's builder
# (``modspec models NAME`` prints its parameter summary).
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt

from modspec.train.demo import run_demo

out = Path(tempfile.mkdtemp(prefix="modspec_demo_"))
results = run_demo(
    out,
    n_train=16,
    duration=2.0,
    models=(("dieleman2014", {"frontend": "mel"}, 2), ("sincmodnet", {"duration": 1.0}, 1)),
    progress=False,
)

# %%
# Read the results
# ----------------
# ``results`` maps each model to the metrics of
# :func:`modspec.train.tagging_metrics`: the macro ROC-AUC and PR-AUC over
# tags and one row per tag. The same is in ``metrics.json`` of the output
# folder. ROC-AUC is 0.5 for a model that ranks clips at random; PR-AUC's
# chance level is the tag's frequency in the test set.
for name, metrics in results.items():
    print(f"{name}: macro ROC-AUC {metrics['roc_auc']:.3f}, PR-AUC {metrics['pr_auc']:.3f}")
    best = max(metrics["per_tag"], key=lambda row: row["roc_auc"] or 0.0)
    print(f"  best tag: {best['tag']} (ROC-AUC {best['roc_auc']:.3f})")
print(sorted(p.name for p in out.iterdir()))

# %%
# Per-tag scores
# --------------
# :func:`modspec.display.tag_metrics` draws one bar per tag and model, with
# the macro average in the legend; the dashed line is chance. The test set
# here has 8 clips, so a single clip moves a tag's score a lot: read the
# bars of the full demo (``modspec demo``, 80 test clips) tag by tag, where
# the two front ends differ.
from modspec import display

display.tag_metrics(results, metric="roc_auc", title="synthetic test set: ROC-AUC per tag (tiny budget)")
plt.show()

# %%
# SincModNet's modulation filters
# -------------------------------
# The demo also writes ``modulation_filters.png``: the responses of
# SincModNet's modulation filters before and after training. After one
# epoch they have barely moved.
image = plt.imread(out / "modulation_filters.png")
fig, ax = plt.subplots(figsize=(11, 4), layout="constrained")
ax.imshow(image)
ax.set_axis_off()
plt.show()

# %%
# The run folders hold ``best.pt`` and ``last.pt`` of each model
# (``modspec evaluate``, ``modspec predict`` read them) and a JSON-lines log
# of every epoch. This example's folder was temporary:
import shutil

shutil.rmtree(out)
