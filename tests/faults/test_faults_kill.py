"""kill -9 of a running `claimguard score` while it writes: no cleanup code runs at all.

What must still hold (claimguard.scoring.output.atomic_folder): ``--out`` keeps pointing at
the previous complete run, byte for byte; what the killed run wrote sits in a hidden
``.OUT.tmp-*`` sibling that no reader takes for a run, and the next run removes it and
publishes a complete folder.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import time
from pathlib import Path

import pytest

from claimguard.cli import run
from tests.support import cg

from .conftest import leftovers, score_args, snapshot

pytestmark = pytest.mark.slow

# Loaded by the scoring subprocess only (PYTHONPATH): every parquet written into a
# temporary output folder takes a second longer, so the kill lands mid-write every time.
SLOW_WRITES = """
import time
import pandas as pd

_real = pd.DataFrame.to_parquet

def _slow(self, path, *args, **kwargs):
    out = _real(self, path, *args, **kwargs)
    if ".tmp-" in str(path):
        time.sleep(1.0)
    return out

pd.DataFrame.to_parquet = _slow
"""


def _wait_for_partial_write(parent: Path, proc, timeout: float = 300) -> Path:
    """The temporary folder of ``proc`` once it holds a written file."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for tmp in parent.glob(".out.tmp-*"):
            if any(tmp.iterdir()):
                return tmp
        if proc.poll() is not None:
            raise AssertionError("score ended before writing: " + proc.communicate()[1])
        time.sleep(0.05)
    raise AssertionError("score did not start writing in time")


def test_kill_9_mid_write_keeps_previous_outputs_and_the_rerun_is_clean(
    world: dict[str, Path], tmp_path: Path
) -> None:
    out = tmp_path / "out"
    assert run(score_args(world, out)) == 0  # the previous, complete run
    before, live = snapshot(out), out.resolve()

    hook = tmp_path / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(SLOW_WRITES)
    proc = cg(*score_args(world, out), env={"PYTHONPATH": str(hook)})
    partial = _wait_for_partial_write(tmp_path, proc)
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL

    # the killed run's files exist, but only in the hidden temporary folder
    assert partial.exists() and not (partial / "run.json").exists()
    assert out.resolve() == live and snapshot(out) == before  # the old run, intact

    assert run(score_args(world, out)) == 0  # the next run
    assert not partial.exists() and leftovers(tmp_path) == []
    done = json.loads((out / "run.json").read_text())
    assert sorted(done["files"]) == sorted(p.name for p in out.iterdir())
    visible = sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith("."))
    assert visible == ["hook", "out"]


# Loaded by the training subprocess only: each fsync takes two seconds longer, so the kill
# lands while the new bundle is a temporary file.
SLOW_FSYNC = """
import os
import time

_real = os.fsync

def _slow(fd):
    time.sleep(2.0)
    return _real(fd)

os.fsync = _slow
"""


def test_kill_9_while_saving_a_bundle_keeps_the_previous_bundle(
    world: dict[str, Path], tmp_path: Path
) -> None:
    from claimguard.model.bundle import load_bundle
    from claimguard.model.model_card import card_path

    model = tmp_path / "model.joblib"
    shutil.copy(world["model"], model)
    shutil.copy(card_path(world["model"]), card_path(model))
    before = {p: p.read_bytes() for p in (model, card_path(model))}

    hook = tmp_path / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(SLOW_FSYNC)
    proc = cg("train", str(world["data"]), "-c", str(world["cfg"]), "--model-out", str(model),
              env={"PYTHONPATH": str(hook)})  # fmt: skip
    deadline = time.monotonic() + 300
    while not list(tmp_path.glob(".model.joblib.*.tmp")):
        assert proc.poll() is None, proc.communicate()[1]
        assert time.monotonic() < deadline, "train did not start saving in time"
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL

    assert {p: p.read_bytes() for p in before} == before  # bundle and card as they were
    assert load_bundle(model).model_version == load_bundle(world["model"]).model_version
