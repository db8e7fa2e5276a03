"""Helpers several test packages share: a tiny trained world and claimguard in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from claimguard.cli import run


def tiny_world(root: Path) -> dict[str, Path]:
    """A generated month (2,000 claims) in ``root/data`` and a 20-tree model trained on it."""
    from claimguard.synth.generate import generate, write_synthetic

    data = root / "data"
    write_synthetic(generate(2_000, seed=5, start="2024-01-01", months=1), data)
    cfg = root / "config.yaml"
    cfg.write_text("model:\n  n_estimators: 20\n")
    model = root / "model.joblib"
    assert run(["train", str(data), "-c", str(cfg), "--model-out", str(model)]) == 0
    return {"root": root, "data": data, "cfg": cfg, "model": model}


def cg(
    *args: str, cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.Popen[str]:
    """``claimguard ARGS`` in a subprocess (text pipes), with extra environment variables."""
    return subprocess.Popen(
        [sys.executable, "-m", "claimguard", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=cwd,
        env={**os.environ, **(env or {})},
    )
