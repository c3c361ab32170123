"""Sphinx helpers of the modspec documentation (a local extension, loaded by conf.py).

- ``.. modspec-command:: ARGS`` runs ``modspec ARGS`` in the build process
  (``modspec.cli.main``) and shows the command and what it printed, so the
  help texts and model summaries in the docs are those of the code.
- ``.. modspec-command-reference::`` gives every sub-command of ``modspec``
  a section with its ``--help`` text, read from the parser that
  ``modspec.cli.main`` builds (so a new sub-command appears by itself).
- ``api/extract.rst`` is written at start-up: the API of
  :mod:`modspec.extract` when that module imports, else a note, so the build
  never depends on the ``distributed`` extra or on the module being there.
- A ``Shape`` section (torch modules: input and output shapes), which numpydoc
  does not know and would drop, is shown as a "Shape" rubric after the
  extended summary.
- Every name of a documented module's ``__all__`` must appear in an
  ``autosummary`` list of ``api/*.rst``: a missing one is a build warning
  (an error under ``-W``), so the API pages cannot fall behind the code.
"""

import contextlib
import importlib
import io
import os
import re
import shlex
import warnings
from pathlib import Path

from docutils import nodes
from docutils.parsers.rst import Directive
from docutils.statemachine import StringList
from sphinx.util import logging
from sphinx.util.nodes import nested_parse_with_titles

logger = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent
API = HERE / "api"

#: Modules whose public names (``__all__``) must all be on the API pages.
DOCUMENTED_MODULES = (
    "modspec.filters",
    "modspec.features",
    "modspec.nn",
    "modspec.models",
    "modspec.data",
    "modspec.train",
    "modspec.io",
    "modspec.display",
    "modspec.cli",
)

# A name listed under a submodule of the package (``modspec.features.spectral.stft``)
# counts for the package too.
_AUTOSUMMARY = re.compile(r"^\.\. autosummary::\s*$")
_CURRENTMODULE = re.compile(r"^\.\. (?:currentmodule|module|automodule)::\s*(\S+)")


@contextlib.contextmanager
def _help_width(columns=88):
    """argparse wraps help texts at $COLUMNS: make the pages independent of the terminal."""
    old = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = str(columns)
    try:
        yield
    finally:
        if old is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = old


class CommandOutput(Directive):
    """``.. modspec-command:: models sincmodnet``: the command and its output, as a literal block."""

    required_arguments = 1
    final_argument_whitespace = True
    has_content = False

    def run(self):
        from modspec.cli import main

        argv = shlex.split(self.arguments[0])
        out = io.StringIO()
        with _help_width(), contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
            try:
                code = main(argv)
            except SystemExit as exit_:  # --help exits
                code = exit_.code
        if code not in (0, None):
            raise self.error(f"`modspec {self.arguments[0]}` exited with {code}:\n{out.getvalue()}")
        text = f"$ modspec {self.arguments[0]}\n{out.getvalue().rstrip()}"
        block = nodes.literal_block(text, text)
        block["language"] = "text"
        return [block]


class _Captured(Exception):
    pass


def command_parser():
    """The ``argparse`` parser that ``modspec.cli.main`` builds, caught before it parses anything."""
    import argparse

    from modspec.cli import main

    original = argparse.ArgumentParser.parse_args

    def capture(parser, *args, **kwargs):
        raise _Captured(parser)

    argparse.ArgumentParser.parse_args = capture
    try:
        main([])
    except _Captured as caught:
        return caught.args[0]
    finally:
        argparse.ArgumentParser.parse_args = original
    raise RuntimeError("modspec.cli.main did not build a parser")


class CommandReference(Directive):
    """``.. modspec-command-reference::``: one section per sub-command of ``modspec`` with its help text."""

    has_content = False

    def run(self):
        import argparse

        parser = command_parser()
        commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        helps = {choice.dest: choice.help for choice in commands._choices_actions}
        lines = []
        with _help_width():
            for name, sub in commands.choices.items():
                title = f"modspec {name}"
                summary = (helps.get(name) or "").strip()
                lines += [title, "-" * len(title), ""]
                if summary:
                    lines += [summary[:1].upper() + summary[1:].rstrip(".") + ".", ""]
                lines += [".. code-block:: text", ""]
                lines += ["   " + line if line else "" for line in sub.format_help().rstrip().splitlines()]
                lines.append("")
        node = nodes.section()
        node.document = self.state.document
        nested_parse_with_titles(self.state, StringList(lines, source="modspec-command-reference"), node)
        return node.children


class GalleryOrder:
    """Sort key of the gallery (``within_subsection_order``): from features to models, then any other file.

    Parameters
    ----------
    src_dir : str
        The gallery's source folder (sphinx-gallery passes it; unused).
    """

    ORDER = (
        "plot_mel_vs_harmonic.py",
        "plot_sinc_filterbank.py",
        "plot_modulation.py",
        "plot_jtfs_glissandi.py",
        "plot_train_demo.py",
    )

    def __init__(self, src_dir):
        self.src_dir = src_dir

    def __call__(self, filename):
        name = os.path.basename(filename)
        return (self.ORDER.index(name) if name in self.ORDER else len(self.ORDER), name)

    def __repr__(self):  # sphinx-gallery caches the config by its repr
        return "GalleryOrder()"


def _is_heading(lines, i):
    """Whether ``lines[i]`` is a numpydoc section title (a word line over a line of dashes)."""
    return (i + 1 < len(lines) and lines[i].strip() and not lines[i].startswith(" ")
            and set(lines[i + 1].strip()) == {"-"} and len(lines[i + 1].strip()) >= 3)


def shape_section(app, what, name, obj, options, lines):
    """Move a ``Shape`` section, which numpydoc drops, to a rubric before the first section."""
    starts = [i for i in range(len(lines)) if lines[i].strip() == "Shape" and _is_heading(lines, i)]
    if not starts:
        return
    start = starts[0]
    end = next((j for j in range(start + 2, len(lines)) if _is_heading(lines, j)), len(lines))
    body = lines[start + 2:end]
    del lines[start:end]
    first = next((i for i in range(len(lines)) if _is_heading(lines, i)), len(lines))
    lines[first:first] = [".. rubric:: Shape", ""] + body + [""]


def _write_if_changed(path, text):
    if not path.is_file() or path.read_text() != text:
        path.write_text(text)


def write_extract_page():
    """``api/extract.rst``: modspec.extract's API if it imports, else a note saying why not."""
    title = "modspec.extract\n===============\n\n"
    try:
        module = importlib.import_module("modspec.extract")
        names = sorted(getattr(module, "__all__", []))
    except ImportError as err:
        text = title + (
            ".. Written by docs/_modspec_docs.py at build time; do not edit.\n\n"
            "Corpus feature extraction with Dask: see :doc:`../extract`.\n\n"
            f".. note::\n\n   The API of ``modspec.extract`` is not on this build: importing it failed ({err}).\n"
        )
    else:
        entries = "".join(f"   {name}\n" for name in names)
        text = title + (
            ".. Written by docs/_modspec_docs.py at build time; do not edit.\n\n"
            ".. automodule:: modspec.extract\n   :no-members:\n\n"
            "Guide: :doc:`../extract`.\n\n"
            ".. currentmodule:: modspec.extract\n\n"
            ".. autosummary::\n   :toctree: ../generated/\n\n" + entries
        )
    _write_if_changed(API / "extract.rst", text)


def listed_names():
    """``{module: names}`` of every autosummary list in ``api/*.rst`` (under its current module)."""
    listed = {}
    for page in sorted(API.glob("*.rst")):
        module, in_list = None, False
        for line in page.read_text().splitlines():
            match = _CURRENTMODULE.match(line)
            if match:
                module, in_list = match.group(1), False
                continue
            if _AUTOSUMMARY.match(line):
                in_list = True
                continue
            if in_list:
                stripped = line.strip()
                if not stripped or stripped.startswith(":"):
                    continue
                if not line.startswith("   "):
                    in_list = False
                    continue
                name = stripped.lstrip("~")
                full = name if name.startswith("modspec.") else f"{module}.{name}"
                owner, _, short = full.rpartition(".")
                listed.setdefault(owner, set()).add(short)
    return listed


def missing_names():
    """``{module: sorted names}`` of the ``__all__`` names of DOCUMENTED_MODULES that no API page lists.

    A module that cannot be imported maps to the ImportError instead.
    """
    listed = listed_names()
    missing = {}
    for name in DOCUMENTED_MODULES:
        try:
            module = importlib.import_module(name)
        except ImportError as err:
            missing[name] = err
            continue
        shown = set().union(*(names for owner, names in listed.items()
                              if owner == name or owner.startswith(name + ".")))
        absent = sorted(set(getattr(module, "__all__", [])) - shown)
        if absent:
            missing[name] = absent
    return missing


def check_api_coverage(app):
    for name, absent in missing_names().items():
        if isinstance(absent, ImportError):
            logger.warning(f"API pages: cannot import {name} ({absent})")
        else:
            logger.warning(f"API pages: {name}.__all__ names {absent}, which no autosummary list in "
                           f"docs/api/*.rst shows; add them")


def setup(app):
    app.add_directive("modspec-command", CommandOutput)
    app.add_directive("modspec-command-reference", CommandReference)
    # Before numpydoc's handler (priority 500), which would drop the section.
    app.connect("autodoc-process-docstring", shape_section, priority=400)
    # numpydoc also parses the raw docstring for the signature and warns there.
    warnings.filterwarnings("ignore", message="Unknown section Shape", category=UserWarning)
    write_extract_page()
    app.connect("builder-inited", check_api_coverage)
    return {"parallel_read_safe": True, "parallel_write_safe": True, "version": "1"}
