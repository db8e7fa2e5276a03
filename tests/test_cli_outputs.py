"""A full disk or a read-only output is a user error (exit 2, one paragraph), not a bug."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pandas as pd
import pytest

from claimguard.cli import run
from tests.support import tiny_world

ERRNOS = [errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM]
WORDS = {
    errno.ENOSPC: "No space left",
    errno.EDQUOT: "No space left",
    errno.EROFS: "not writable",
    errno.EACCES: "not writable",
    errno.EPERM: "not writable",
}


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A small generated month and a tiny model trained on it."""
    return tiny_world(tmp_path_factory.mktemp("cli_outputs"))


def _args(command: str, world: dict[str, Path], out: Path) -> list[str]:
    if command == "score":
        return ["score", str(world["data"]), "--model", str(world["model"]), "--out", str(out)]
    return [command, str(world["data"]), "--out", str(out)]


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


def _fail_writes_under(
    monkeypatch: pytest.MonkeyPatch, dest: Path, code: int, which: str = "parquet"
) -> None:
    """Writes of outputs below ``dest`` raise ``OSError(code)`` (after a partial write)."""

    def fail(path: object) -> None:
        Path(str(path)).open("wb").close()  # the file is created, then the write fails
        raise OSError(code, os.strerror(code), str(path))

    if which == "parquet":
        real = pd.DataFrame.to_parquet

        def to_parquet(self: pd.DataFrame, path: object, *a: object, **kw: object) -> object:
            if str(path).startswith(str(dest)):
                fail(path)
            return real(self, path, *a, **kw)  # type: ignore[arg-type]

        monkeypatch.setattr(pd.DataFrame, "to_parquet", to_parquet)
    else:
        real_text = Path.write_text

        def write_text(self: Path, text: str, *a: object, **kw: object) -> int:
            if str(self).startswith(str(dest)) and self.name.endswith(".json"):
                fail(self)
            return real_text(self, text, *a, **kw)  # type: ignore[arg-type]

        monkeypatch.setattr(Path, "write_text", write_text)


@pytest.mark.parametrize("code", ERRNOS, ids=errno.errorcode.get)
@pytest.mark.parametrize("command", ["score", "convert", "validate"])
def test_write_errors_exit_2_with_the_path_and_leave_the_old_outputs(
    command: str,
    code: int,
    world: dict[str, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    dest = tmp_path / "dest"
    out = dest / "out"
    assert run(_args(command, world, out)) == 0  # a previous complete run
    before = _snapshot(out)
    capsys.readouterr()
    _fail_writes_under(monkeypatch, dest, code)
    rc = run(_args(command, world, out))
    monkeypatch.undo()
    err = capsys.readouterr().err
    assert rc == 2, err
    assert WORDS[code] in err and "Fix:" in err
    assert str(out) in err.replace("\n", "")
    assert "Traceback" not in err and "This is a bug" not in err
    assert _snapshot(out) == before  # nothing partial visible
    assert not [p for p in dest.rglob("*") if ".tmp-" in p.name]


@pytest.mark.parametrize("command", ["score", "convert"])
def test_json_write_on_a_full_disk_exits_2(
    command: str,
    world: dict[str, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    dest = tmp_path / "dest"
    out = dest / "out"
    _fail_writes_under(monkeypatch, dest, errno.ENOSPC, which="json")
    rc = run(_args(command, world, out))
    monkeypatch.undo()
    err = capsys.readouterr().err
    assert rc == 2, err
    assert "No space left" in err and str(out) in err.replace("\n", "")
    assert "Traceback" not in err
    assert not out.exists()  # a first run that failed leaves no folder at all
    assert list(dest.iterdir()) == []
