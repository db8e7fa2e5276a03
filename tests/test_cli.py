"""The error policy and the command shell, run as a user would (a real process)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path


def cg(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "claimguard", *args], capture_output=True, text=True, cwd=cwd
    )


def test_help_lists_commands() -> None:
    r = cg("--help")
    assert r.returncode == 0
    assert "config" in r.stdout


def test_version() -> None:
    r = cg("--version")
    assert r.returncode == 0 and "claimguard" in r.stdout


def test_config_show_and_schema() -> None:
    r = cg("config", "show")
    assert r.returncode == 0 and "n_estimators" in r.stdout
    r = cg("config", "schema")
    assert r.returncode == 0
    assert "model" in json.loads(r.stdout)["properties"]


def test_bad_config_exits_2_without_traceback(tmp_path: Path) -> None:
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("model:\n  n_trees: 5\n")
    r = cg("config", "show", "--config", str(cfg))
    assert r.returncode == 2
    assert "model.n_trees" in r.stderr and "unknown key" in r.stderr
    assert "Traceback" not in r.stderr + r.stdout


def test_missing_config_file_exits_2(tmp_path: Path) -> None:
    r = cg("config", "show", "--config", str(tmp_path / "nope.yaml"))
    assert r.returncode == 2
    assert "nope.yaml" in r.stderr and "Fix:" in r.stderr
    assert "Traceback" not in r.stderr


def test_unknown_command_is_usage_error() -> None:
    r = cg("no-such-command")
    assert r.returncode == 2
    assert "Traceback" not in r.stderr


def test_bad_env_override_exits_2_naming_the_variable(tmp_path: Path) -> None:
    import os

    env = {**os.environ, "CLAIMGUARD_MODEL__N_ESTIMATORS": "many"}
    r = subprocess.run(
        [sys.executable, "-m", "claimguard", "config", "show"],
        capture_output=True, text=True, env=env, cwd=tmp_path,
    )  # fmt: skip
    assert r.returncode == 2 and "CLAIMGUARD_MODEL__N_ESTIMATORS" in r.stderr
    env = {**os.environ, "CLAIMGUARD_FOO": "1"}
    r = subprocess.run(
        [sys.executable, "-m", "claimguard", "config", "show"],
        capture_output=True, text=True, env=env, cwd=tmp_path,
    )  # fmt: skip
    assert r.returncode == 2 and "CLAIMGUARD_FOO names no setting" in r.stderr
    assert "Traceback" not in r.stderr
