"""Atomic output folders: the visible ``DIR`` is always one complete run.

Why: a nightly job that crashes half way must never leave a folder that looks like a
finished run (a downstream loader would pick up a queue with half its alerts), and a
reader must never find no folder at all. Each run writes a temporary sibling
``.DIR.tmp-<stamp>-<pid>``, renames it to the version ``.DIR.v<stamp>-<pid>`` once complete,
and then points ``DIR`` at it: ``DIR`` is a symlink replaced in one ``os.replace``, so every
reader that opens ``DIR/...`` sees either the old or the new complete set. Files in an
existing folder that are not ours (e.g. notes a user left there) are carried over.
Leftovers of killed runs and superseded versions are removed by the next run.
"""

from __future__ import annotations

import ctypes
import errno
import json
import logging
import os
import re
import shutil
import tempfile
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from claimguard.errors import UserError, output_error

log = logging.getLogger(__name__)

_STAMP = re.compile(r"^(\d{8}T\d{12})-(\d+)$")  # <UTC time to the microsecond>-<pid>
_LEGACY = re.compile(r"^[A-Za-z0-9_]{8}$")  # tempfile.mkdtemp's suffix (older writers)
_last_stamp = ""


def _check_writable(parent: Path, out_dir: Path) -> None:
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(
            f"Cannot create the output folder's parent ({exc.strerror or exc})",
            where=str(parent),
            fix="choose an --out folder in a location you can write to",
        ) from exc
    if out_dir.exists() and not out_dir.is_dir():
        raise UserError(
            "The output path exists and is a file, not a folder",
            where=str(out_dir),
            fix="pass --out with a folder path (it is created if missing)",
        )
    if not os.access(parent, os.W_OK | os.X_OK):
        raise UserError(
            "The output folder's parent is not writable",
            where=str(parent),
            fix="choose an --out folder you can write to, or fix its permissions",
        )


def _new_stamp() -> str:
    """A UTC time stamp, strictly increasing within this process."""
    global _last_stamp
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
    while stamp <= _last_stamp:
        time.sleep(1e-6)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
    _last_stamp = stamp
    return stamp


def _is_ours(link: Path) -> bool:
    """Whether ``link`` is a symlink this module made (to a ``.NAME.v...`` sibling)."""
    if not link.is_symlink():
        return False
    target = os.readlink(link)
    prefix = f".{link.name}.v"
    return (
        "/" not in target
        and target.startswith(prefix)
        and bool(_STAMP.match(target[len(prefix) :]))
    )


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, OverflowError, ValueError):
        return False
    except PermissionError:
        return True
    except OSError:
        return False
    return True


def _remove(path: Path) -> None:
    if path.is_symlink() or not path.is_dir():
        path.unlink(missing_ok=True)
    else:
        shutil.rmtree(path, ignore_errors=True)


def _clean_stale(out: Path, stamp: str, started: float, keep: set[str]) -> None:
    """Remove what killed runs left beside ``out`` and versions no longer pointed at.

    Only entries older than the current run (``stamp``/``started``) and not in ``keep``
    (the live version, this run's own folders) are touched; a temporary whose process is
    still running belongs to a concurrent run and is left alone.
    """
    try:
        entries = list(out.parent.iterdir())
    except OSError:
        return
    for entry in entries:
        if entry.name in keep:
            continue
        for kind in ("tmp-", "old-", "link-", "v"):
            prefix = f".{out.name}.{kind}"
            if not entry.name.startswith(prefix):
                continue
            rest = entry.name[len(prefix) :]
            m = _STAMP.match(rest)
            if m:
                if m.group(1) >= stamp:
                    break
                if kind != "v" and _pid_alive(int(m.group(2))):
                    break
            elif kind in ("tmp-", "old-") and _LEGACY.match(rest):
                try:
                    if entry.lstat().st_mtime >= started:
                        break
                except OSError:
                    break
            else:
                break
            if kind in ("tmp-", "old-"):
                log.info("Removing what an interrupted earlier run left: %s", entry)
            else:
                log.debug("Removing a superseded version: %s", entry)
            _remove(entry)
            break


def _link_or_copy(src: str, dst: str) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def _carry_over(live: Path, tmp: Path, owned: set[str]) -> None:
    """Copy what is not ours from the live folder into the new one (hard links if possible)."""
    for entry in live.iterdir():
        name = entry.name
        if name in owned or any(name.startswith(f".{o}.") for o in owned):
            continue  # ours, or the versions/temporaries of a folder of ours
        dst = tmp / name
        if dst.exists() or dst.is_symlink():
            continue
        if entry.is_symlink():
            os.symlink(os.readlink(entry), dst)
        elif entry.is_dir():
            shutil.copytree(entry, dst, symlinks=True, copy_function=_link_or_copy)
        else:
            _link_or_copy(str(entry), str(dst))


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths in one step (Linux ``renameat2(RENAME_EXCHANGE)``); False if unsupported."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    rc = renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange)
    if rc == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV):
        return False
    raise OSError(err, os.strerror(err), str(b))


def _point_at(out: Path, version: Path, stamp: str) -> Path | None:
    """Make ``out`` a symlink to ``version``; returns a migrated real folder to delete."""
    link = out.parent / f".{out.name}.link-{stamp}-{os.getpid()}"
    os.symlink(version.name, link)
    try:
        if out.is_symlink() or not out.exists():
            os.replace(link, out)  # atomic: DIR is the old or the new target, never missing
            return None
        # A real folder from an older claimguard: swap it with the link in one step.
        if _exchange(link, out):
            return link  # now holds the old real folder
        # No atomic exchange on this system: keep the old folder until the link is in.
        legacy = out.parent / f".{out.name}.old-{stamp}-{os.getpid()}"
        os.rename(out, legacy)
        os.replace(link, out)
        return legacy
    except BaseException:
        if link.is_symlink():
            link.unlink(missing_ok=True)
        raise


@contextmanager
def atomic_folder(out_dir: str | Path, owned: Iterable[str] = ()) -> Iterator[Path]:
    """Yield a temporary folder; on success ``out_dir`` points at it in one atomic step.

    ``out_dir`` becomes a symlink to a versioned sibling folder (a real folder left by an
    older version is migrated). ``owned`` names the files this writer produces: in an
    existing ``out_dir`` those are replaced, anything else is carried into the new folder.
    On error the temporary folder is removed and ``out_dir`` is left exactly as it was; a
    full disk or a read-only location raises :class:`claimguard.errors.OutputError`.
    """
    out = Path(out_dir).absolute()
    if out.is_symlink() and not _is_ours(out):
        out = out.resolve()  # a symlink the user made: manage the folder it points to
    parent = out.parent
    owned_names = set(owned)
    started = time.time()
    stamp = _new_stamp()
    pid = os.getpid()
    tmp = parent / f".{out.name}.tmp-{stamp}-{pid}"
    version = parent / f".{out.name}.v{stamp}-{pid}"
    try:
        _check_writable(parent, out)
        live = out.resolve() if out.exists() else None
        keep = {tmp.name, version.name} | ({live.name} if live is not None else set())
        _clean_stale(out, stamp, started, keep)  # before writing: frees space for this run
        # One handler from the mkdir on: a signal that lands between two statements (the
        # mkdir and the yield, the rename and the switch) still removes what this run made.
        try:
            try:
                tmp.mkdir()
            except OSError as exc:
                if output_error(exc, out) is not None:
                    raise
                raise UserError(
                    f"Cannot write into the output folder's parent ({exc.strerror or exc})",
                    where=str(parent),
                    fix="choose an --out folder you can write to, or fix its permissions",
                ) from exc
            yield tmp
            if live is not None and live.is_dir():
                _carry_over(live, tmp, owned_names)
            os.chmod(tmp, 0o755)
            os.rename(tmp, version)
            migrated = _point_at(out, version, stamp)
        except BaseException:
            _remove(tmp)
            if not (out.is_symlink() and out.resolve() == version.resolve()):
                _remove(version)  # not live yet: nothing points at it
            raise
    except OSError as exc:
        err = output_error(exc, out)
        if err is None:
            raise
        raise err from exc
    # The new outputs are live; drop the superseded version and what killed runs left.
    if migrated is not None:
        _remove(migrated)
    _clean_stale(out, _new_stamp(), time.time(), {version.name})


@contextmanager
def atomic_file(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it replaces ``path`` in one rename.

    For single files written into a folder that is not ours (``validate``'s quarantine in
    the current folder). A full disk or a read-only location raises ``OutputError``.
    """
    target = Path(path).absolute()
    tmp = target.parent / f".{target.name}.tmp-{_new_stamp()}-{os.getpid()}"
    try:
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            yield tmp
            os.replace(tmp, target)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
    except OSError as exc:
        err = output_error(exc, target)
        if err is None:
            raise
        raise err from exc


def replace_files(files: dict[Path, bytes]) -> None:
    """Write each file to a temporary sibling, fsync, then rename them all into place.

    A reader sees the old file or the whole new one, never half of it; a failure (a full
    disk, say) before the renames leaves every old file as it was. A full disk or a
    read-only location raises :class:`claimguard.errors.OutputError`.
    """
    tmps: dict[Path, Path] = {}
    umask = os.umask(0)
    os.umask(umask)
    try:
        for path, data in files.items():
            fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
            tmps[path] = Path(name)
            os.fchmod(fd, 0o666 & ~umask)  # as an ordinary new file (mkstemp makes it 0600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
        for path, written in tmps.items():
            os.replace(written, path)
    except BaseException as exc:
        for written in tmps.values():
            written.unlink(missing_ok=True)
        err = output_error(exc, next(iter(files))) if isinstance(exc, OSError) else None
        if err is not None:
            raise err from exc
        raise


def write_parquet(df: pd.DataFrame, path: Path) -> None:
    """Parquet without the pandas index (so every reader sees the same columns)."""
    df.to_parquet(path, index=False)


def write_json(obj: Any, path: Path) -> None:
    """Indented JSON; numpy scalars and timestamps become plain values."""
    path.write_text(json.dumps(obj, indent=2, default=_json_default) + "\n", encoding="utf-8")


def _json_default(value: Any) -> Any:
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    if hasattr(value, "item"):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, set | frozenset | tuple):
        return sorted(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")
