"""The output swap: DIR always resolves to a complete folder, and killed runs are cleaned."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest

from claimguard.io.atomic import atomic_folder

OWNED = ("a.txt", "run.json", "report")


def _write(out: Path, text: str) -> None:
    with atomic_folder(out, OWNED) as tmp:
        (tmp / "a.txt").write_text(text)
        (tmp / "run.json").write_text(f'{{"run": "{text}"}}')


def _complete(out: Path) -> str:
    """The run marker of the folder ``out`` resolves to; fails if there is none."""
    assert out.is_dir(), f"{out} does not resolve to a folder"
    assert (out / "a.txt").read_text() in (out / "run.json").read_text()
    return (out / "run.json").read_text()


def _observer(out: Path, seen: list[str]):  # type: ignore[no-untyped-def]
    """Wraps a filesystem call so that what ``out`` holds is recorded before and after it."""

    def observed(fn):  # type: ignore[no-untyped-def]
        def wrapper(*args, **kwargs):  # type: ignore[no-untyped-def]
            seen.append(_complete(out))
            result = fn(*args, **kwargs)
            seen.append(_complete(out))
            return result

        return wrapper

    return observed


def test_after_several_runs_only_the_live_version_remains(tmp_path: Path) -> None:
    out = tmp_path / "out"
    for i in range(4):
        _write(out, f"run{i}")
    assert (out / "a.txt").read_text() == "run3"
    assert out.is_symlink()
    live = out.resolve()
    assert live.parent == tmp_path and live.is_dir() and not live.is_symlink()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["out", live.name])


def test_leftovers_of_killed_runs_are_removed(tmp_path: Path) -> None:
    out = tmp_path / "out"
    _write(out, "first")
    live = out.resolve()
    past = time.time() - 3600
    stale = [
        tmp_path / ".out.tmp-20200101T000000000000-999999999",  # killed while writing
        tmp_path / ".out.tmp-k3j2h1q_",  # the older writer's random suffix
        tmp_path / ".out.old-abc123xy",  # killed between the older writer's two renames
        tmp_path / ".out.v20200101T000000000000-999999999",  # a superseded version
    ]
    for p in stale:
        p.mkdir()
        (p / "a.txt").write_text("half")
        os.utime(p, (past, past))
    other = tmp_path / ".other.tmp-20200101T000000000000-1"  # another folder's: not ours
    other.mkdir()
    _write(out, "second")
    assert _complete(out) == '{"run": "second"}'
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == sorted(["out", out.resolve().name, other.name])
    assert not live.exists()  # the previous live version is superseded and removed


def test_out_always_resolves_to_a_complete_folder_during_the_swap(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "out"
    _write(out, "old")
    seen: list[str] = []
    observed = _observer(out, seen)
    for name in ("replace", "rename", "symlink", "unlink", "rmdir"):
        monkeypatch.setattr(os, name, observed(getattr(os, name)))
    monkeypatch.setattr(shutil, "rmtree", observed(shutil.rmtree))
    monkeypatch.setattr(shutil, "move", observed(shutil.move))
    _write(out, "new")
    monkeypatch.undo()
    assert seen, "the swap made no observable filesystem call"
    assert set(seen) == {'{"run": "old"}', '{"run": "new"}'}
    assert _complete(out) == '{"run": "new"}'


def test_a_real_folder_from_an_older_version_is_migrated_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "a.txt").write_text("legacy")
    (out / "run.json").write_text('{"run": "legacy"}')
    (out / "notes.md").write_text("mine")
    (out / "sub").mkdir()
    (out / "sub" / "x.txt").write_text("kept too")
    seen: list[str] = []
    observed = _observer(out, seen)
    for name in ("replace", "rename"):
        monkeypatch.setattr(os, name, observed(getattr(os, name)))
    _write(out, "new")
    monkeypatch.undo()
    assert out.is_symlink()
    assert _complete(out) == '{"run": "new"}'
    assert set(seen) <= {'{"run": "legacy"}', '{"run": "new"}'}
    assert (out / "notes.md").read_text() == "mine"
    assert (out / "sub" / "x.txt").read_text() == "kept too"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["out", out.resolve().name])
    _write(out, "again")  # from now on an ordinary symlink swap
    assert (out / "notes.md").read_text() == "mine"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["out", out.resolve().name])


def test_a_failed_run_leaves_the_live_version_and_no_temporaries(tmp_path: Path) -> None:
    out = tmp_path / "out"
    _write(out, "good")
    live = out.resolve()
    with pytest.raises(RuntimeError), atomic_folder(out, OWNED) as tmp:
        (tmp / "a.txt").write_text("half")
        raise RuntimeError("crash")
    assert out.resolve() == live and _complete(out) == '{"run": "good"}'
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["out", live.name])


@pytest.mark.parametrize("step", ["mkdir", "rename"])
def test_an_interrupt_between_two_steps_leaves_nothing_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, step: str
) -> None:
    """A signal lands right after the temporary folder is made or renamed to its version."""
    out = tmp_path / "out"
    _write(out, "good")
    live = out.resolve()
    real_mkdir, real_rename = Path.mkdir, os.rename

    def mkdir_then_interrupt(self: Path, *args: object, **kwargs: object) -> None:
        real_mkdir(self, *args, **kwargs)  # type: ignore[arg-type]
        if ".tmp-" in self.name:
            raise KeyboardInterrupt

    def rename_then_interrupt(src: Path, dst: Path) -> None:
        real_rename(src, dst)
        raise KeyboardInterrupt

    if step == "mkdir":
        monkeypatch.setattr(Path, "mkdir", mkdir_then_interrupt)
    else:
        monkeypatch.setattr(os, "rename", rename_then_interrupt)
    with pytest.raises(KeyboardInterrupt), atomic_folder(out, OWNED) as tmp:
        (tmp / "a.txt").write_text("half")
    monkeypatch.undo()
    assert out.resolve() == live and _complete(out) == '{"run": "good"}'
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["out", live.name])


def test_nested_atomic_folders_survive_the_outer_swap(tmp_path: Path) -> None:
    """`evaluate` writes SCORED/report atomically inside a folder that `score` replaces."""
    scored = tmp_path / "scored"
    _write(scored, "one")
    with atomic_folder(scored / "mine", ("r.txt",)) as tmp:  # not owned by the outer writer
        (tmp / "r.txt").write_text("kept")
    with atomic_folder(scored / "report", ("r.txt",)) as tmp:  # owned: stale once replaced
        (tmp / "r.txt").write_text("stale")
    _write(scored, "two")
    assert (scored / "mine" / "r.txt").read_text() == "kept"
    assert not (scored / "report").exists()
    inside = sorted(p.name for p in scored.iterdir())
    assert inside == sorted(["a.txt", "run.json", "mine", (scored / "mine").resolve().name])
