"""Checks of the documentation's helpers that need no Sphinx build (the build itself runs from the Makefile)."""

import importlib.util
from pathlib import Path

import pytest

pytest.importorskip("sphinx", reason="the docs extra is not installed (pip install 'modspec[docs]')")
pytest.importorskip("torch", reason="the API pages document modspec.nn, models, data and train (torch extra)")
pytest.importorskip("sklearn", reason="the API pages document modspec.train (train extra)")

DOCS = Path(__file__).resolve().parents[1] / "docs"


@pytest.fixture(scope="module")
def docs():
    spec = importlib.util.spec_from_file_location("_modspec_docs", DOCS / "_modspec_docs.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_public_name_is_on_an_api_page(docs):
    assert docs.missing_names() == {}


def test_api_pages_are_parsed(docs):
    listed = docs.listed_names()
    assert {"stft", "jtfs", "melspectrogram"} <= listed["modspec.features"]
    assert {"dieleman2014", "K2C2"} <= listed["modspec.models.dieleman"] | listed["modspec.models.choi"]
    assert "run_demo" in listed["modspec.train.demo"]


def test_shape_section_becomes_a_rubric_before_the_parameters(docs):
    lines = [
        "Summary line.", "", "Extended text.", "",
        "Parameters", "----------", "n : int", "    Size.", "",
        "Shape", "-----", "- Input: (..., n_samples)", "- Output: (..., n)", "",
        "Examples", "--------", ">>> 1", "1",
    ]
    docs.shape_section(None, "class", "X", None, {}, lines)
    assert lines == [
        "Summary line.", "", "Extended text.", "",
        ".. rubric:: Shape", "", "- Input: (..., n_samples)", "- Output: (..., n)", "", "",
        "Parameters", "----------", "n : int", "    Size.", "",
        "Examples", "--------", ">>> 1", "1",
    ]


def test_docstring_without_shape_is_unchanged(docs):
    lines = ["Summary.", "", "Parameters", "----------", "x : int", "    The shape of x."]
    before = list(lines)
    docs.shape_section(None, "function", "f", None, {}, lines)
    assert lines == before
