"""A read-only output location and a full disk, for real where the machine allows it.

Monkeypatched write failures are in tests/test_cli_outputs.py; here the operating system
itself refuses: a tmpfs remounted read-only (EROFS; a folder without write permission when
not root) and a tmpfs too small for a second run (ENOSPC). Each time: exit 2 with what,
where and how to fix, no traceback, the previous outputs intact, no temporary files left.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from claimguard.cli import run
from claimguard.errors import OutputError
from claimguard.model.bundle import load_bundle, save_bundle
from claimguard.model.model_card import card_path

from .conftest import leftovers, remount_read_only, score_args, snapshot

pytestmark = pytest.mark.slow


def _read_only(folder: Path, tiny_disk: Callable[[Path, int], Path] | None) -> None:
    if tiny_disk is None:
        folder.chmod(0o555)
    else:
        remount_read_only(folder)


@pytest.fixture
def disk(request: pytest.FixtureRequest) -> Callable[[Path, int], Path] | None:
    """A real tmpfs where this user may mount one, else None (plain folders)."""
    if os.geteuid() != 0:
        return None
    return request.getfixturevalue("tiny_disk")  # type: ignore[no-any-return]


def test_read_only_output_location_exits_2_and_keeps_the_previous_run(
    world: dict[str, Path], tmp_path: Path, disk, capsys: pytest.CaptureFixture[str]
) -> None:
    dest = tmp_path / "dest"
    if disk is not None:
        disk(dest, 4096)
    else:
        dest.mkdir()
    out = dest / "out"
    assert run(score_args(world, out)) == 0
    before = snapshot(out)
    capsys.readouterr()
    _read_only(dest, disk)
    try:
        assert run(score_args(world, out)) == 2
    finally:
        if disk is None:
            dest.chmod(0o755)
    err = capsys.readouterr().err
    assert "not writable" in err and str(dest) in err.replace("\n", "")
    assert "Fix:" in err and "Traceback" not in err
    assert snapshot(out) == before and leftovers(dest) == []


def test_full_disk_while_scoring_exits_2_and_keeps_the_previous_run(
    world: dict[str, Path], tmp_path: Path, tiny_disk, capsys: pytest.CaptureFixture[str]
) -> None:
    probe = tmp_path / "probe"
    assert run(score_args(world, probe)) == 0
    size_kib = sum(p.stat().st_size for p in probe.iterdir()) // 1024
    # room for one complete run and a half: the second run fills the disk mid-write
    dest = tiny_disk(tmp_path / "dest", int(size_kib * 1.5) + 64)
    out = dest / "out"
    assert run(score_args(world, out)) == 0
    before = snapshot(out)
    capsys.readouterr()
    assert run(score_args(world, out)) == 2
    err = capsys.readouterr().err
    assert "No space left" in err and str(out) in err.replace("\n", "")
    assert "Traceback" not in err and "This is a bug" not in err
    assert snapshot(out) == before and leftovers(dest) == []
    assert sorted(p.name for p in dest.iterdir() if not p.name.startswith(".")) == ["out"]


def test_full_disk_while_saving_a_bundle_keeps_the_previous_bundle(
    world: dict[str, Path], tmp_path: Path, tiny_disk, capsys: pytest.CaptureFixture[str]
) -> None:
    size_kib = world["model"].stat().st_size // 1024
    dest = tiny_disk(tmp_path / "models", int(size_kib * 1.5) + 32)
    model = dest / "model.joblib"
    train = ["train", str(world["data"]), "-c", str(world["cfg"]), "--model-out", str(model)]
    assert run(train) == 0
    before = {p: p.read_bytes() for p in (model, card_path(model))}
    capsys.readouterr()
    assert run(train) == 2
    err = capsys.readouterr().err
    assert "No space left" in err and str(model) in err.replace("\n", "")
    assert "Traceback" not in err
    assert {p: p.read_bytes() for p in before} == before and leftovers(dest) == []
    assert load_bundle(model).model_version  # still a whole, signed bundle


def test_failed_bundle_write_anywhere_is_an_output_error(
    world: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without root: the write fails at fsync (as NFS reports a full disk); same outcome."""
    bundle = load_bundle(world["model"])
    path = save_bundle(bundle, tmp_path / "m.joblib")
    before = path.read_bytes()

    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr("claimguard.io.atomic.os.fsync", full)
    with pytest.raises(OutputError, match="No space left"):
        save_bundle(bundle, path)
    monkeypatch.undo()
    assert path.read_bytes() == before and leftovers(tmp_path) == []
