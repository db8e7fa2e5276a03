"""Whole-file failures: exit 2, one paragraph naming the file, the problem and the fix."""

from __future__ import annotations

import base64
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from claimguard.cli import run
from claimguard.io.xml130_writer import write_xml130
from tests.io.io_frames import make_dataset, write_folder


def _folder(tmp: Path) -> Path:
    d = tmp / "data"
    write_folder(make_dataset(6, seed=9), d, "csv")
    return d


def _missing(tmp: Path) -> tuple[Path, str]:
    return tmp / "nowhere" / "claims.csv", "does not exist"


def _empty(tmp: Path) -> tuple[Path, str]:
    d = _folder(tmp)
    (d / "claims.csv").write_bytes(b"")
    return d / "claims.csv", "empty"


def _not_a_table(tmp: Path) -> tuple[Path, str]:
    d = _folder(tmp)
    (d / "claims.csv").unlink()
    (d / "claims.parquet").write_bytes(b"PAR1 this is not parquet at all")
    return d / "claims.parquet", "not a readable Parquet table"


def _not_utf8(tmp: Path) -> tuple[Path, str]:
    d = _folder(tmp)
    text = (d / "claims.csv").read_text()
    (d / "claims.csv").write_bytes(text.replace("J06.9", "Bệnh").encode("utf-16"))
    return d / "claims.csv", "not UTF-8"


def _required_column_absent(tmp: Path) -> tuple[Path, str]:
    d = _folder(tmp)
    df = pd.read_csv(d / "claims.csv", dtype=str).drop(columns=["admit_time"])
    df.to_csv(d / "claims.csv", index=False)
    return d / "claims.csv", "lacks required column(s) admit_time"


def _truncated_xml(tmp: Path) -> tuple[Path, str]:
    files = write_xml130(make_dataset(4, seed=9), tmp / "xml", records_per_file=10)
    data = files[0].read_bytes()
    files[0].write_bytes(data[: len(data) // 2])
    return files[0], "cannot be parsed as XML"


def _bad_base64(tmp: Path) -> tuple[Path, str]:
    files = write_xml130(make_dataset(1, seed=9), tmp / "xml", records_per_file=10)
    text = files[0].read_text()
    start = text.index("<NOIDUNGFILE>") + len("<NOIDUNGFILE>")
    files[0].write_text(text[:start] + "!!not-base64!!" + text[start + 20 :])
    return files[0], "not valid base64"


def _not_an_envelope(tmp: Path) -> tuple[Path, str]:
    p = tmp / "other.xml"
    p.write_text("<?xml version='1.0'?><ROOT><A>1</A></ROOT>")
    return p, "not an XML 130 envelope"


def _empty_folder(tmp: Path) -> tuple[Path, str]:
    (tmp / "empty").mkdir()
    return tmp / "empty", "no claims table"


CASES: dict[str, Callable[[Path], tuple[Path, str]]] = {
    "missing": _missing,
    "empty": _empty,
    "not_a_table": _not_a_table,
    "not_utf8": _not_utf8,
    "required_column_absent": _required_column_absent,
    "truncated_xml": _truncated_xml,
    "bad_base64": _bad_base64,
    "not_an_envelope": _not_an_envelope,
    "empty_folder": _empty_folder,
}


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("command", ["validate", "convert"])
def test_whole_file_failure_exits_2_with_what_where_fix(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], case: str, command: str
) -> None:
    bad_file, problem = CASES[case](tmp_path)
    data = bad_file if case in ("missing", "empty_folder") else bad_file.parent
    if case in ("not_an_envelope",):
        data = bad_file
    code = run([command, str(data), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2
    flat = " ".join(err.split())
    assert f"Where: {bad_file if case not in ('empty_folder',) else data}" in flat
    assert problem in flat
    assert "Fix:" in err
    assert "Traceback" not in err


def test_subprocess_has_no_traceback(tmp_path: Path) -> None:
    bad_file, _ = _not_utf8(tmp_path)
    proc = subprocess.run(
        [sys.executable, "-m", "claimguard", "validate", str(bad_file)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert "not UTF-8" in proc.stderr and "Traceback" not in proc.stderr
    assert "claims.csv" in proc.stderr


def test_bad_mapping_file_is_a_config_error(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    d = _folder(tmp_path)
    m = tmp_path / "m.yaml"
    m.write_text("tables:\n  claims:\n    colums: {claim_id: MA_LK}\n")
    assert run(["validate", str(d), "--mapping", str(m)]) == 2
    err = capsys.readouterr().err
    assert "colums" in err and "m.yaml" in err and "Traceback" not in err


def test_unused_base64_padding_is_not_fatal(tmp_path: Path) -> None:
    """Line breaks inside NOIDUNGFILE (common in real exports) still decode."""
    files = write_xml130(make_dataset(2, seed=9), tmp_path / "xml", records_per_file=10)
    text = files[0].read_text()
    start = text.index("<NOIDUNGFILE>") + len("<NOIDUNGFILE>")
    end = text.index("</NOIDUNGFILE>")
    payload = text[start:end]
    assert base64.b64decode(payload)
    wrapped = "\n".join(payload[i : i + 76] for i in range(0, len(payload), 76))
    files[0].write_text(text[:start] + wrapped + text[end:])
    assert run(["validate", str(files[0]), "--out", str(tmp_path / "o")]) == 0
