"""`claimguard generate` as a user runs it."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from claimguard.cli import run


def test_generate_writes_a_dataset_folder(tmp_path: Path) -> None:
    out = tmp_path / "data"
    code = run(["generate", str(out), "--claims", "3000", "--seed", "4", "--start", "2024-06-01"])
    assert code == 0
    names = {p.name for p in out.iterdir()}
    assert {"claims.parquet", "claim_lines.parquet", "facilities.parquet", "cards.parquet"} <= names
    assert {"labels.csv", "traps.csv", "truth_claims.parquet"} <= names
    claims = pd.read_parquet(out / "claims.parquet")
    assert len(claims) == 3000
    assert (claims["admit_time"].dt.month == 6).all()
    labels = pd.read_csv(out / "labels.csv")
    assert list(labels.columns) == ["entity_type", "entity_id", "scenario", "variant"]


def test_defaults_come_from_the_config(tmp_path: Path) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text("generate:\n  claims: 2500\n  seed: 3\n  months: 2\n  abuse_rate: 0.02\n")
    out = tmp_path / "data"
    assert run(["generate", str(out), "--config", str(cfg)]) == 0
    claims = pd.read_parquet(out / "claims.parquet")
    assert len(claims) == 2500
    assert claims["admit_time"].dt.to_period("M").nunique() == 2
    # a flag beats the config
    assert run(["generate", str(tmp_path / "b"), "--config", str(cfg), "--claims", "2200"]) == 0
    assert len(pd.read_parquet(tmp_path / "b" / "claims.parquet")) == 2200


@pytest.mark.parametrize(
    ("args", "word"), [(["--claims", "10"], "--claims"), (["--start", "soon"], "--start")]
)
def test_bad_arguments_exit_2_with_a_fix(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], word: str
) -> None:
    assert run(["generate", str(tmp_path / "x"), *args]) == 2
    err = capsys.readouterr().err
    assert word in err and "Fix:" in err and "Traceback" not in err


def test_variant_draws_another_population(tmp_path: Path) -> None:
    """``--variant 1`` drops the optional columns its population lacks and plants look-alikes."""
    from claimguard.synth.variants import variant

    pop = variant(1)
    args = ["--claims", "4000", "--seed", "5"]
    assert run(["generate", str(tmp_path / "v0"), *args]) == 0
    assert run(["generate", str(tmp_path / "v1"), *args, "--variant", "1"]) == 0
    base = pd.read_parquet(tmp_path / "v0" / "claims.parquet")
    other = pd.read_parquet(tmp_path / "v1" / "claims.parquet")
    dropped = {c for c in pop.absent_columns if "." not in c}
    assert dropped and dropped <= set(base.columns) and not dropped & set(other.columns)
    kinds = set(pd.read_csv(tmp_path / "v1" / "traps.csv")["kind"])
    assert "traveller" in kinds and "traveller" not in set(
        pd.read_csv(tmp_path / "v0" / "traps.csv")["kind"]
    )


def test_a_negative_variant_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["generate", str(tmp_path / "x"), "--variant", "-1"]) == 2
    err = capsys.readouterr().err
    assert "--variant" in err and "Traceback" not in err
