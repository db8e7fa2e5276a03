"""Every exit code of an unattended `claimguard score` run, in real processes.

0 success, 2 bad input, 3 drift with --fail-on-drift, 4 quarantine limit, 130/143 SIGINT /
SIGTERM (no temporary folder left), plus the model identity run.json records and stores
resolved independently of the working folder.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
from pathlib import Path

import pandas as pd
import pytest

from claimguard.cli import run
from claimguard.triage.load import load_folder
from claimguard.triage.store import CARRY_FORWARD_ACTOR, Store
from tests.support import cg

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, synthetic_dir: Path) -> dict[str, Path]:
    """A small model registered as claimguard@champion in an MLflow store of its own."""
    root = tmp_path_factory.mktemp("exit_codes")
    cfg = root / "config.yaml"
    cfg.write_text(
        "model:\n  n_estimators: 20\n  max_samples: 256\nscoring:\n  review_capacity_cards: 20\n"
        "  review_capacity_facilities: 5\n"
    )
    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{root / 'mlflow.db'}"  # undone per test
    model = root / "model.joblib"
    args = ["train", str(synthetic_dir), "-c", str(cfg), "-o", str(model)]
    assert run([*args, "--register", "claimguard"]) == 0
    assert run(["model", "promote", "claimguard", "1", "--alias", "champion"]) == 0
    return {"root": root, "cfg": cfg, "model": model, "data": synthetic_dir}


def _store(world: dict[str, Path]) -> str:
    return f"sqlite:///{world['root'] / 'mlflow.db'}"


def _env(world: dict[str, Path]) -> dict[str, str]:
    return {"MLFLOW_TRACKING_URI": _store(world)}


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if ".tmp-" in p.name)


def test_success_from_another_folder_records_the_model_and_creates_no_store(
    world: dict[str, Path], tmp_path: Path
) -> None:
    elsewhere = tmp_path / "home"
    elsewhere.mkdir()
    out = tmp_path / "runs" / "2024-01"
    p = cg(
        "score", str(world["data"]), "--model", "models:/claimguard@champion", "--out", str(out),
        "-c", str(world["cfg"]), cwd=elsewhere, env=_env(world),
    )  # fmt: skip
    stdout, stderr = p.communicate(timeout=600)
    assert p.returncode == 0, stderr
    assert "MLflow tracking store: " + _store(world) in stderr
    assert list(elsewhere.iterdir()) == []  # no stray mlflow.db, mlruns or outputs
    rec = json.loads((out / "run.json").read_text())
    assert rec["status"] == "ok"
    assert rec["model"]["alias"] == "champion" and rec["model"]["version"] == "1"
    assert rec["model"]["model_version"] == rec["model_version"]
    assert rec["settings"]["scoring"]["review_capacity_cards"] == 20
    assert rec["command_line"][-2:] == ["-c", str(world["cfg"])]
    assert rec["started_at"] <= rec["finished_at"]


def test_unresolvable_model_uri_creates_no_database(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "mlflow.db"
    p = cg(
        "score", str(tmp_path), "--model", "models:/claimguard@champion", "--out",
        str(tmp_path / "out"), cwd=tmp_path, env={"MLFLOW_TRACKING_URI": f"sqlite:///{missing}"},
    )  # fmt: skip
    _, stderr = p.communicate(timeout=120)
    assert p.returncode == 2, stderr
    assert "MLflow tracking store does not exist" in stderr and "Traceback" not in stderr
    assert not missing.exists() and not (tmp_path / "mlflow.db").exists()


def test_quarantine_limit_writes_outputs_and_exits_4(
    world: dict[str, Path], tmp_path: Path
) -> None:
    data = tmp_path / "data"
    shutil.copytree(world["data"], data)
    claims = pd.read_parquet(data / "claims.parquet")
    bad = claims.index[: len(claims) // 10]  # 10% of the month without a card
    claims["card_id"] = claims["card_id"].astype("object")
    claims.loc[bad, "card_id"] = None
    claims.to_parquet(data / "claims.parquet", index=False)
    out = tmp_path / "out"
    code = run(["score", str(data), "--model", str(world["model"]), "-o", str(out), "-c",
                str(world["cfg"])])  # fmt: skip
    assert code == 4
    rec = json.loads((out / "run.json").read_text())
    assert rec["status"] == "quarantine_limit_exceeded"
    q = rec["quarantine"]
    assert q["exceeded"] and q["tables"]["claims"]["exceeded"]
    assert q["tables"]["claims"]["share"] == pytest.approx(0.1, abs=0.01)
    assert q["dominant_reasons"]["claims"][0]["rows"] >= len(bad)
    assert len(pd.read_parquet(out / "quarantine.parquet")) >= len(bad)
    assert (out / "alerts.parquet").is_file()
    # the same month under a limit that allows it: exit 0, status ok
    cfg = tmp_path / "lenient.yaml"
    cfg.write_text(world["cfg"].read_text() + "  max_quarantine_share: 0.5\n")
    code = run(["score", str(data), "--model", str(world["model"]), "-o", str(out), "-c",
                str(cfg)])  # fmt: skip
    assert code == 0
    assert json.loads((out / "run.json").read_text())["status"] == "ok"


def test_drift_with_fail_on_drift_exits_3(world: dict[str, Path], tmp_path: Path) -> None:
    cfg = tmp_path / "strict.yaml"
    cfg.write_text(world["cfg"].read_text() + "drift:\n  psi_limit: 0.0000001\n"
                   "  max_drifted_feature_share: 0.0\n")  # fmt: skip
    out = tmp_path / "out"
    args = ["score", str(world["data"]), "--model", str(world["model"]), "-o", str(out)]
    assert run([*args, "-c", str(cfg), "--fail-on-drift"]) == 3
    assert json.loads((out / "run.json").read_text())["status"] == "drifted"


def test_bad_input_exits_2(world: dict[str, Path], tmp_path: Path) -> None:
    args = ["score", str(tmp_path / "missing"), "--model", str(world["model"])]
    assert run([*args, "-o", str(tmp_path / "out")]) == 2


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_signal_while_writing_removes_temporaries(
    world: dict[str, Path], tmp_path: Path, sig: signal.Signals, code: int
) -> None:
    out = tmp_path / "out"
    p = cg(
        "-vv", "score", str(world["data"]), "--model", str(world["model"]), "-o", str(out),
        "-c", str(world["cfg"]),
    )  # fmt: skip
    assert p.stderr is not None
    seen = []
    for line in p.stderr:  # kill as soon as the outputs are being written
        seen.append(line)
        if "Writing outputs ..." in line or any(".tmp-" in q.name for q in tmp_path.iterdir()):
            break
    p.send_signal(sig)
    rest = p.communicate(timeout=120)[1]
    assert p.returncode == code, "".join(seen) + rest
    assert f"Interrupted by {sig.name}" in rest and "Traceback" not in rest
    assert _leftovers(tmp_path) == []
    assert not out.exists()  # no earlier run: nothing is visible either


def test_stale_temporary_folder_is_removed_with_a_log_line(
    world: dict[str, Path], tmp_path: Path
) -> None:
    stale = tmp_path / ".out.tmp-20200101T000000000000-999999999"
    stale.mkdir()
    (stale / "scores.parquet").write_text("half")
    out = tmp_path / "out"
    p = cg("score", str(world["data"]), "--model", str(world["model"]), "-o", str(out),
           "-c", str(world["cfg"]))  # fmt: skip
    _, stderr = p.communicate(timeout=600)
    assert p.returncode == 0, stderr
    assert "Removing what an interrupted earlier run left" in stderr and stale.name in stderr
    assert not stale.exists() and _leftovers(tmp_path) == []


def test_busy_port_for_serve_exits_2_not_3(world: dict[str, Path], tmp_path: Path) -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        p = cg("serve", str(tmp_path), "--port", str(port), "--db",
               f"sqlite:///{tmp_path / 't.db'}", cwd=tmp_path)  # fmt: skip
        _, stderr = p.communicate(timeout=120)
    assert p.returncode == 2, stderr
    assert f"Cannot listen on 127.0.0.1:{port}" in stderr and "Traceback" not in stderr


def test_triage_export_refuses_a_missing_store(tmp_path: Path) -> None:
    p = cg("triage", "export", "--out", str(tmp_path / "labels.csv"), cwd=tmp_path)
    _, stderr = p.communicate(timeout=120)
    assert p.returncode == 2, stderr
    assert "triage store does not exist" in stderr
    assert list(tmp_path.iterdir()) == []


def test_unexpected_error_exits_1(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import claimguard.jobs.score as score_module

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(score_module, "parse_period", broken)  # a bug anywhere in a command
    assert run(["score", str(tmp_path), "--model", "x", "-o", str(tmp_path / "o")]) == 1


def test_since_scores_only_the_new_period_with_the_same_model(
    world: dict[str, Path], tmp_path: Path
) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    args = ["score", str(world["data"]), "-c", str(world["cfg"])]
    model = ["--model", str(world["model"])]
    assert run([*args, *model, "-o", str(first), "--period", "2024-01-01..2024-01-15"]) == 0
    assert run([*args, "-o", str(second), "--since", str(first)]) == 0
    a = json.loads((first / "run.json").read_text())
    b = json.loads((second / "run.json").read_text())
    assert b["period_start"] == "2024-01-16" and b["period_end"] == "2024-01-31"
    assert b["model_version"] == a["model_version"]
    assert b["model"]["uri"] == str(world["model"].absolute())
    assert b["since"]["previous_period_end"] == "2024-01-15"
    previous = set(pd.read_parquet(first / "alerts.parquet")["alert_id"])
    carried = b["since"]["carried_forward"]
    assert carried and all(c["previous_alert_id"] in previous for c in carried)
    # the triage store carries a reviewer's decision forward to the entity's new alert
    store = Store.open(f"sqlite:///{tmp_path / 'triage.db'}")
    load_folder(store, first)
    decided, untouched = carried[0], carried[1:]
    store.record_decision(decided["previous_alert_id"], "confirmed_abuse", "ana", note="seen it")
    summary = load_folder(store, second)
    assert summary.carried_forward == 1
    new = store.alert(decided["alert_id"])
    assert new is not None and new["status"] == "confirmed_abuse" and new["state"] == "decided"
    (copy,) = store.history(decided["alert_id"])
    assert copy["reviewer"] == CARRY_FORWARD_ACTOR and decided["previous_alert_id"] in copy["note"]
    assert all(store.alert(c["alert_id"])["status"] == "open" for c in untouched)  # type: ignore[index]
    assert [a["action"] for a in store.audit(decided["alert_id"])] == ["carry_forward"]
    assert len(store.labels()) == 1  # the copy is not a second label
    # loading again neither duplicates the copy nor overrides a fresh decision
    store.record_decision(decided["alert_id"], "dismissed", "ben")
    assert load_folder(store, second).carried_forward == 0
    assert store.alert(decided["alert_id"])["status"] == "dismissed"  # type: ignore[index]
    store.close()
    # nothing new after the second run: a readable exit 2
    assert run([*args, "-o", str(tmp_path / "third"), "--since", str(second)]) == 2
