"""Sphinx configuration of the modspec documentation.

Build (from the repository root, as ``make test`` does)::

    python -m sphinx -W -b html docs docs/_build/html

The build needs no network. Links to the NumPy, SciPy, PyTorch and librosa
documentation (intersphinx) are made only when their inventories are at
hand: set ``MODSPEC_DOCS_INTERSPHINX=1`` to download them, or put
``numpy.inv``, ``scipy.inv``, ``torch.inv``, ``librosa.inv`` in
``docs/_intersphinx/``. Without either, cross-references to those projects
stay plain text, and an offline ``-W`` build does not fail on an unreachable
inventory.
"""

import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))  # the local extension _modspec_docs.py

import modspec  # noqa: E402

project = "modspec"
author = "the modspec developers"
copyright = "the modspec developers"
version = release = modspec.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "sphinx.ext.intersphinx",
    "numpydoc",
    "myst_parser",
    "sphinx_gallery.gen_gallery",
    "_modspec_docs",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "_intersphinx", "Thumbs.db", ".DS_Store", "**.ipynb_checkpoints",
                    "auto_examples/*.ipynb", "auto_examples/*.py", "auto_examples/*.zip"]
templates_path = ["_templates"]
# Warnings are errors in CI (-W); references to names outside the docs are
# not checked one by one (numpydoc's type fields name many of them).
nitpicky = False

# --------------------------------------------------------------------------- API pages

autosummary_generate = True
autodoc_typehints = "none"  # types are in the numpydoc Parameters sections
autodoc_member_order = "bysource"
# The GPU library is an optional extra the API pages must not need.
autodoc_mock_imports = ["cupy"]

numpydoc_show_class_members = False  # autosummary lists members; numpydoc would repeat them
numpydoc_class_members_toctree = False
numpydoc_validation_checks = set()  # the docstring lint runs elsewhere, not as build warnings
numpydoc_xref_param_type = False

# --------------------------------------------------------------------------- intersphinx (opt-in, see above)

_INVENTORIES = {
    "python": "https://docs.python.org/3",
    "numpy": "https://numpy.org/doc/stable",
    "scipy": "https://docs.scipy.org/doc/scipy",
    "torch": "https://docs.pytorch.org/docs/stable",
    "librosa": "https://librosa.org/doc/latest",
    "matplotlib": "https://matplotlib.org/stable",
}
_LOCAL_INVENTORIES = HERE / "_intersphinx"
intersphinx_mapping = {}
for _name, _url in _INVENTORIES.items():
    _local = _LOCAL_INVENTORIES / f"{_name}.inv"
    if _local.is_file():
        intersphinx_mapping[_name] = (_url, str(_local))
    elif os.environ.get("MODSPEC_DOCS_INTERSPHINX") == "1":
        intersphinx_mapping[_name] = (_url, None)
intersphinx_timeout = 10

# --------------------------------------------------------------------------- gallery

sphinx_gallery_conf = {
    "examples_dirs": str(ROOT / "examples"),
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",  # execute every example
    "ignore_pattern": r"__init__\.py",
    "within_subsection_order": "_modspec_docs.GalleryOrder",
    "doc_module": ("modspec",),
    "backreferences_dir": "generated/backreferences",  # mini-galleries on the API pages
    "image_scrapers": ("matplotlib",),
    "matplotlib_animations": False,
    "remove_config_comments": True,
    "download_all_examples": False,
    "min_reported_time": 1,
    "show_memory": False,
    "abort_on_example_error": False,  # report every failing example, then fail the build
    "only_warn_on_example_error": False,
    "write_computation_times": True,
}
os.environ.setdefault("MPLBACKEND", "Agg")

# --------------------------------------------------------------------------- HTML

html_theme = "pydata_sphinx_theme"
html_title = f"modspec {release}"
html_static_path = []
html_show_sourcelink = False
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "secondary_sidebar_items": ["page-toc"],
    "footer_start": ["copyright"],
    "footer_end": [],
}
