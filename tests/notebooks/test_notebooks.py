"""The data scientists' notebooks run top to bottom in Jupyter and leave nothing behind.

Each notebook is executed by ``jupyter nbconvert --execute`` (the Jupyter the dev extra
installs) in a subprocess whose temporary folder is a fresh empty one: whatever the
notebook writes must be gone when its kernel stops, and the checkout's ``notebooks/``
folder must be unchanged (no checkpoints, no outputs written in place).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

REPO = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))

pytestmark = pytest.mark.slow


def _listing(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_in_jupyter_and_leaves_no_temporary_folder(
    notebook: Path, tmp_path: Path
) -> None:
    tmpdir, out = tmp_path / "tmpdir", tmp_path / "executed"
    tmpdir.mkdir()
    before = _listing(REPO / "notebooks")
    env = {**os.environ, "TMPDIR": str(tmpdir), "MPLBACKEND": "Agg"}
    proc = subprocess.run(
        [sys.executable, "-m", "jupyter", "nbconvert", "--to", "notebook", "--execute",
         "--ExecutePreprocessor.timeout=600", "--output-dir", str(out), str(notebook)],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=900,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    executed = nbformat.read(out / notebook.name, as_version=4)
    errors = [
        o for c in executed.cells if c.cell_type == "code" for o in c.get("outputs", [])
        if o.get("output_type") == "error"
    ]  # fmt: skip
    assert not errors
    assert sorted(p.name for p in tmpdir.iterdir()) == [], "the notebook left temporary files"
    assert _listing(REPO / "notebooks") == before
