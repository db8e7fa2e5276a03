"""`claimguard convert` writes its folder atomically: all new files or all old ones."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from claimguard.cli import run


@pytest.fixture(scope="module")
def two_inputs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Two small generated datasets; the second has no labels.csv."""
    from claimguard.synth.generate import generate, write_synthetic

    root = tmp_path_factory.mktemp("convert_inputs")
    a, b = root / "a", root / "b"
    write_synthetic(generate(2_000, seed=3, start="2024-01-01", months=1), a)
    write_synthetic(generate(2_000, seed=4, start="2024-02-01", months=1), b)
    (b / "labels.csv").unlink()
    return a, b


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


def test_convert_failure_part_way_leaves_the_previous_conversion(
    two_inputs: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b = two_inputs
    out = tmp_path / "converted"
    assert run(["convert", str(a), "--out", str(out)]) == 0
    before = _snapshot(out)
    assert {"claims.parquet", "claim_lines.parquet", "summary.json", "labels.csv"} <= set(before)

    real = pd.DataFrame.to_parquet

    def crash_on_second_table(self: pd.DataFrame, path: object, *args: object, **kw: object):
        if Path(str(path)).name == "claim_lines.parquet":
            Path(str(path)).write_bytes(b"PAR1 truncated")  # a half-written file, then death
            raise RuntimeError("killed while writing claim_lines")
        return real(self, path, *args, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(pd.DataFrame, "to_parquet", crash_on_second_table)
    assert run(["convert", str(b), "--out", str(out)]) == 1
    monkeypatch.undo()
    assert _snapshot(out) == before  # exactly the previous complete set, same bytes
    leftovers = [p.name for p in tmp_path.iterdir() if ".tmp-" in p.name or ".old-" in p.name]
    assert leftovers == []


def test_convert_success_replaces_the_old_set_completely(
    two_inputs: tuple[Path, Path], tmp_path: Path
) -> None:
    a, b = two_inputs
    out = tmp_path / "converted"
    fresh = tmp_path / "fresh"
    assert run(["convert", str(a), "--out", str(out)]) == 0
    (out / "notes.md").write_text("mine")  # not ours: kept
    assert run(["convert", str(b), "--out", str(out)]) == 0
    assert run(["convert", str(b), "--out", str(fresh)]) == 0
    after = _snapshot(out)
    assert after.pop("notes.md") == b"mine"
    assert "labels.csv" not in after  # the old conversion's labels are not left behind
    new = _snapshot(fresh)
    assert set(after) == set(new)
    for name in after:
        if name != "summary.json":  # names the input paths and hashes: same inputs, same text
            assert after[name] == new[name], name
    assert after["summary.json"] == new["summary.json"]
