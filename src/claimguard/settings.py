"""Settings: frozen pydantic models read from YAML under ``configs/``.

Why: a batch job and a data scientist must see exactly which knobs a run used.
Unknown keys are rejected (a typo must not silently fall back to a default),
errors name the file, the key and its line, and ``CLAIMGUARD_SECTION__KEY=value``
environment variables override the file (e.g. ``CLAIMGUARD_MODEL__N_ESTIMATORS=50``).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError

from claimguard.settings_sources import (
    check_env_names,
    env_overrides,
    invalid,
    read_yaml,
)


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class GenerateSettings(_Section):
    """Synthetic data: how many claims, which months, how much planted abuse."""

    claims: int = Field(200_000, gt=0, description="number of claims to generate")
    seed: int = Field(7, description="random seed; same seed = identical files")
    start: str = Field("2024-01-01", description="first day of the generated period (ISO date)")
    months: int = Field(1, ge=1, le=24, description="number of months generated")
    abuse_rate: float = Field(0.01, ge=0.0, le=0.2, description="planted abuse share")
    variant: int = Field(0, ge=0, description="population variant (0 = default, synth.variants)")


class FeatureSettings(_Section):
    """Feature layer knobs."""

    doctor_daily_cap: int = Field(
        65, gt=0, description="outpatient examinations per doctor per day"
    )
    min_peer_group_size: int = Field(
        30, gt=0, description="smaller peer groups fall back to a coarser group"
    )
    back_to_back_minutes: float = Field(
        30.0,
        gt=0.0,
        description="a claim at the same facility on the same day starting sooner than this "
        "after the card's previous one is the same sitting billed again (a genuine revisit "
        "needs a new consultation)",
    )
    peer_heterogeneity: float = Field(
        0.05,
        ge=0.0,
        le=1.0,
        description="legitimate spread between facilities of the same tier and case mix, as a "
        "share of the peer expectation (one standard deviation); it bounds how certain a "
        "large facility's small excess can look in the *_excess_z features",
    )
    near_zero_treatment_vnd: float = Field(
        50_000.0,
        ge=0,
        description="a visit billing less than this beyond the exam has 'almost no treatment'",
    )


# Facility excess z-scores are weighed as evidence (claimguard.model.evidence), not isolated.
Z_FEATURES = tuple(
    f"facility_{x}_excess_z"
    for x in (
        "cost_per_visit",
        "tests_per_visit",
        "imaging_per_visit",
        "drugs_per_visit",
        "supplies_per_visit",
        "admission_rate",
        "length_of_stay",
        "thin_visits",
        "sick_leave_per_visit",
    )
)


class ModelSettings(_Section):
    """Isolation forest and evidence layer."""

    n_estimators: int = Field(100, gt=0)
    max_samples: int | float | Literal["auto"] = Field(
        16384,
        description="entities per tree (capped at the number of entities); large subsamples "
        "keep rare signals in view (measured: card AP 0.60 at 256, 0.70 at 16384)",
    )
    max_features: float = Field(1.0, gt=0.0, le=1.0)
    random_state: int = 42
    n_jobs: int = Field(2, description="cores used to fit and score")
    card_features: list[str] | None = Field(
        None, description="feature subset for cards (None = all available)"
    )
    facility_features: list[str] | None = Field(
        None, description="feature subset for facilities (None = all)"
    )
    exclude_features: list[str] = Field(
        default_factory=lambda: [
            "facility_max_exams_per_doctor_day_count",
            "facility_sick_leave_days_per_certificate_days",
            "facility_sick_leave_near_zero_treatment_share",
            "facility_one_visit_cards_share",
            "facility_split_billing_count",
            "facility_split_billing_share",
            "facility_after_death_claims_count",
            "facility_outside_validity_claims_count",
            "facility_cost_per_day_ratio_to_peers",
            "facility_doctor_days_count",
            "facility_doctor_days_over_cap_count",
            "card_split_stay_admissions_count",
            *Z_FEATURES,
        ],
        description="features left out of the forest when card_features/facility_features is "
        "None (names that do not exist are ignored); default: facility raw counts and shares "
        "that are not compared with peers, split stays (weighed as evidence only), and cost per day (claims per day x cost per visit, "
        "both in the model: it double-counts size): on ~500 facilities they dilute the "
        "isolation (measured facility AP 0.71 -> 0.81 and 0.76 -> 0.85 on two seed pairs)",
    )
    evidence_weight: float = Field(
        1.0,
        ge=0.0,
        description="weight of the evidence surprisals against the forest's "
        "(score = T / (1 + T), T = 1000 * hard facts + forest surprisal + weight * sum of "
        "capped evidence surprisals; see claimguard.model.evidence); 0 = the forest alone",
    )
    evidence_cap: float = Field(
        6.0,
        gt=0.0,
        description="most surprisal (log10 units) one evidence item adds: 6 = one in a "
        "million, beyond which no tail model fitted on one period is believed",
    )
    evidence_floor: float = Field(
        1.0,
        ge=0.0,
        description="surprisal every signal's evidence must exceed before it counts (1 = "
        "more common than one in ten is no evidence): many signals each a little above "
        "typical, as any busy entity shows, do not add up to one strong one",
    )
    evidence_fire_level: float = Field(
        3.0,
        gt=0.0,
        description="surprisal at which an evidence item is reported as fired (a reason "
        "first in line, counted in the firing rate): 3 = one in a thousand",
    )
    max_hard_fact_share: float = Field(
        0.002,
        ge=0.0,
        le=1.0,
        description="a hard fact (after death, outside validity, impossible diagnosis) "
        "firing on more than this share of training entities is demoted to count evidence",
    )
    max_fit_rows: int = Field(500_000, gt=0, description="rows sampled before fitting")
    # Bundle signing (claimguard.model.signing). Excluded from dumps: never written into a
    # bundle, a model card, run.json or the config hash.
    signing_key: SecretStr | None = Field(
        None,
        exclude=True,
        min_length=16,
        description="secret (16+ characters) that signs saved model bundles and verifies them "
        "on load (HMAC-SHA256); set it as CLAIMGUARD_MODEL__SIGNING_KEY rather than in a file. "
        "None = the per-user key file (signing_key_file)",
    )
    signing_key_file: Path | None = Field(
        None,
        exclude=True,
        description="key file used when signing_key is None; created (mode 0600) on the first "
        "save. None = $XDG_CONFIG_HOME/claimguard/model.key (~/.config/claimguard/model.key)",
    )


class ScoringSettings(_Section):
    """Alert queue: capacity, threshold, how much explanation."""

    review_capacity_cards: int = Field(200, ge=0)
    review_capacity_facilities: int = Field(20, ge=0)

    @property
    def review_capacity(self) -> dict[str, int]:
        """Alerts per entity type a review team works through: the alert queue's k."""
        return {"card": self.review_capacity_cards, "facility": self.review_capacity_facilities}

    @property
    def candidate_capacity(self) -> dict[str, int]:
        """Entities explained per type: a little past capacity, as one left without a
        readable reason is not alerted and the next one is (both engines)."""
        return {k: v + max(10, v // 2) for k, v in self.review_capacity.items()}

    score_threshold: float | None = Field(
        None, ge=0.0, le=1.0, description="also alert anything above this"
    )
    max_reasons: int = Field(5, ge=1)
    max_evidence: int = Field(20, ge=1, le=20)
    partition_claims: int = Field(
        1_000_000,
        ge=1,
        description="claims per feature partition: fewer bound memory, more are faster "
        "(a 10M-claim month peaks at ~7.7 GB with 1M)",
    )
    max_quarantine_share: float = Field(
        0.05,
        ge=0.0,
        le=1.0,
        description="largest share of any input table's rows that may be quarantined: above "
        "it `claimguard score` still writes its outputs and the quarantine, names the dominant "
        "reasons and exits 4 so a scheduler notices (docs/operations.md)",
    )


class DriftSettings(_Section):
    """Limits above which a scored period is reported as drifted."""

    psi_limit: float = Field(0.25, gt=0)
    max_drifted_feature_share: float = Field(0.2, ge=0, le=1)
    unseen_share_limit: float = Field(0.1, ge=0, le=1)


class TriageSettings(_Section):
    """Triage web app."""

    db_url: str = "sqlite:///claimguard_triage.db"
    host: str = "127.0.0.1"
    port: int = Field(8000, gt=0, lt=65536)
    page_size: int = Field(50, gt=0, le=500)
    # how long a write waits for another connection's SQLite lock before a readable 503
    db_lock_timeout_seconds: float = Field(5.0, gt=0, le=300)
    # sign-in: how long a session lasts, and failed sign-ins before a lockout of that length
    session_hours: float = Field(12.0, gt=0, le=24 * 30)
    login_max_failures: int = Field(5, ge=1, le=100)
    login_lockout_seconds: float = Field(900.0, gt=0, le=86400)
    # a new case is due this many days after it was loaded
    sla_days: int = Field(5, ge=1, le=365)


class MonitorSettings(_Section):
    """Early warnings (`claimguard monitor`): the change test on mix-adjusted monthly ratios."""

    window_months: int = Field(
        6, ge=2, le=24, description="months of the facility's own history used as reference"
    )
    min_history_months: int = Field(
        3, ge=1, le=24, description="months of history before an indicator can be warned"
    )
    cusum_k: float = Field(
        0.5, ge=0.0, description="CUSUM allowance, in reference spreads, ignored each month"
    )
    cusum_h: float = Field(
        2.0,
        gt=0.0,
        description="CUSUM decision limit, in reference spreads (sensitivity); chosen on "
        "development seeds of bench/monitor.py, never on the seeds it reports",
    )
    pool_signal: bool = Field(
        True,
        description="also accumulate one CUSUM per facility and signal over its indicators "
        "(Stouffer sum of their standardised deviations), so several small rises together warn",
    )
    spread_floor: float = Field(
        0.1, gt=0.0, description="smallest month-to-month spread of a log ratio (10% = 0.1)"
    )
    peer_z: float = Field(
        3.0, ge=0.0, description="robust z against same-tier peers in the same month"
    )
    min_rise: float = Field(
        0.2, ge=0.0, description="smallest rise over the own reference that is warned (20%)"
    )
    min_claims: int = Field(
        100, ge=1, description="facility-months with fewer claims are shown but never warned"
    )


class IoSettings(_Section):
    """Limits on what one input may make the readers hold: a hostile or broken file is
    quarantined or refused within bounded memory and time instead of exhausting them."""

    max_xml_part_bytes: int = Field(
        50_000_000,
        gt=0,
        description="largest decoded size of one embedded table (NOIDUNGFILE) of an XML 130 "
        "record; a larger one quarantines its record without being decoded (a visit's drug "
        "table of several thousand lines is a few MB)",
    )
    max_xml_depth: int = Field(
        64,
        ge=8,
        le=10_000,
        description="deepest element nesting read in an XML 130 envelope or embedded table "
        "(real files nest about ten levels); deeper nesting quarantines the record, or "
        "refuses the file when outside any record",
    )


class MlflowSettings(_Section):
    """Experiment tracking; MLFLOW_TRACKING_URI overrides tracking_uri."""

    tracking_uri: str = "sqlite:///mlflow.db"
    experiment: str = "claimguard"


class SparkSettings(_Section):
    """Apache Spark session of ``engine: spark`` (claimguard.spark.session)."""

    master: str = Field(
        "local[*]",
        description="Spark master URL: local[*] (all cores of this machine), local[2], "
        "spark://host:7077, yarn, k8s://...",
    )
    app_name: str = Field("claimguard", description="application name shown by Spark")
    shuffle_partitions: int = Field(
        8,
        gt=0,
        description="spark.sql.shuffle.partitions, and the number of card/facility "
        "partitions the features are built in",
    )
    conf: dict[str, str] = Field(
        default_factory=dict,
        description="any other Spark setting, passed through as is "
        "(e.g. spark.executor.memory: 8g)",
    )


class Settings(_Section):
    """All settings of all jobs; each command reads its own section."""

    engine: Literal["local", "spark"] = Field(
        "local",
        description="where features are built: local = pandas in this process, spark = "
        "card/facility partitions on an Apache Spark session (same functions, same results)",
    )
    spark: SparkSettings = SparkSettings()
    generate: GenerateSettings = GenerateSettings()
    features: FeatureSettings = FeatureSettings()
    model: ModelSettings = ModelSettings()
    scoring: ScoringSettings = ScoringSettings()
    drift: DriftSettings = DriftSettings()
    triage: TriageSettings = TriageSettings()
    mlflow: MlflowSettings = MlflowSettings()
    monitor: MonitorSettings = MonitorSettings()
    io: IoSettings = IoSettings()

    def config_hash(self) -> str:
        """Stable short hash of the effective settings (for run.json and alert ids).

        The engine and the Spark session are left out: they change where the work runs,
        not its results (tests/spark check the parity)."""
        blob = json.dumps(
            self.model_dump(mode="json", exclude={"engine", "spark"}), sort_keys=True
        ).encode()
        return hashlib.sha256(blob).hexdigest()[:16]


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(merged.get(k), dict):
            merged[k] = _merge(merged[k], v)
        else:
            merged[k] = v
    return merged


def default_config_path() -> Path | None:
    """``configs/default.yaml`` of the working directory, or None (built-in defaults)."""
    local = Path("configs/default.yaml")
    return local if local.exists() else None


def load_settings(
    path: str | Path | None = None, environ: Mapping[str, str] | None = None
) -> Settings:
    """Read a YAML config (default: ``configs/default.yaml``), apply env overrides, validate.

    An override that does not validate is reported under its variable's name; a
    ``CLAIMGUARD_`` variable that names no setting is an error (a typo must not be ignored).
    """
    cfg_path = Path(path) if path is not None else default_config_path()
    env = os.environ if environ is None else environ
    from_env = check_env_names(Settings, env)
    overrides = env_overrides(Settings, env, from_env)
    text = ""
    raw: dict[str, Any] = {}
    if cfg_path is not None:
        text, raw = read_yaml(cfg_path)
    try:
        return Settings.model_validate(_merge(raw, overrides))
    except ValidationError as exc:
        raise invalid(exc, text, cfg_path, from_env) from exc
