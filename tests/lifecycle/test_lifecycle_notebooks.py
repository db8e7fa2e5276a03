"""Notebooks are committed without outputs (tests/notebooks executes them in Jupyter)."""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[2] / "notebooks").glob("*.ipynb"))
EXPECTED = {
    "0.01-explore-claims.ipynb",
    "1.01-feature-catalogue.ipynb",
    "2.01-train-and-compare.ipynb",
    "3.01-evaluate-with-reviewer-labels.ipynb",
}
NAME = re.compile(r"^\d+\.\d{2}-[a-z0-9]+(-[a-z0-9]+)*\.ipynb$")  # cookiecutter-data-science


def test_the_four_notebooks_exist_with_cookiecutter_names() -> None:
    names = {p.name for p in NOTEBOOKS}
    assert EXPECTED <= names
    assert all(NAME.match(n) for n in names), names


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_committed_without_outputs(path: Path) -> None:
    book = nbformat.read(path, as_version=4)
    nbformat.validate(book)
    code = [c for c in book.cells if c.cell_type == "code"]
    assert code
    dirty = [i for i, c in enumerate(code) if c.outputs or c.execution_count is not None]
    assert not dirty, f"{path.name}: clear outputs of code cells {dirty} before committing"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_writes_only_to_temp_dirs(path: Path) -> None:
    source = "\n".join(c.source for c in nbformat.read(path, as_version=4).cells)
    assert "tempfile.TemporaryDirectory" in source  # removed when the kernel stops
    assert "MLFLOW_TRACKING_URI" in source
