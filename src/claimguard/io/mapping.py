"""Mapping files: how a foreign layout becomes the canonical tables.

Why: nobody's export arrives in claimguard's layout. A small YAML file per source
(under ``configs/mappings/``) says which source column feeds each canonical column,
how codes translate to enum values, which date formats to try, which fields hold
several values joined by a separator, and which constants fill a required column the
source lacks. Unknown keys and unknown canonical columns are rejected so that a typo
never silently drops a column.

Example::

    tables:
      claims:
        columns: {claim_id: MA_LK, card_id: [MA_THE_BHYT, MA_THE]}
        values: {patient_sex: {"1": M, "2": F, "3": U}}
        date_formats: {admit_time: ["%Y%m%d%H%M"]}
        split: {card_id: ";"}
        constants: {facility_id: "01001"}
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pandas as pd
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from claimguard.errors import ConfigError
from claimguard.schema import LOCAL_TIMEZONE, TABLES

log = logging.getLogger(__name__)

TableName = Literal["claims", "claim_lines", "facilities", "cards"]


def _as_list(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


class TableMapping(BaseModel):
    """How one foreign table maps onto one canonical table (keys are canonical columns)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    columns: dict[str, str | list[str]] = Field(
        default_factory=dict,
        description="canonical column -> source column, or a list: the first non-empty wins",
    )
    presence: dict[str, dict[str, str]] = Field(
        default_factory=dict,
        description="canonical column -> {source column: value}: the value of the first "
        "listed source column that is non-empty in the row (e.g. line_type from which "
        "code column is filled)",
    )
    values: dict[str, dict[str, str]] = Field(
        default_factory=dict, description="canonical column -> {source value: canonical value}"
    )
    date_formats: dict[str, str | list[str]] = Field(
        default_factory=dict, description="canonical column -> strptime format(s), tried in order"
    )
    split: dict[str, str] = Field(
        default_factory=dict,
        description="canonical column -> separator: the field may hold several values; "
        "the first is used",
    )
    constants: dict[str, str | float | int] = Field(
        default_factory=dict,
        description="canonical column -> value, used only when the column is absent",
    )

    @field_validator("values", mode="before")
    @classmethod
    def _string_keys(cls, v: Any) -> Any:
        """YAML reads unquoted codes (1, 2, 3) as numbers; source values are text."""
        if isinstance(v, dict):
            return {
                col: {str(k): str(x) for k, x in m.items()} if isinstance(m, dict) else m
                for col, m in v.items()
            }
        return v

    def sources(self, canonical: str) -> list[str]:
        """Source columns that feed ``canonical`` (the canonical name itself if unmapped)."""
        return _as_list(self.columns[canonical]) if canonical in self.columns else [canonical]

    def formats(self, canonical: str) -> list[str]:
        return _as_list(self.date_formats.get(canonical, []))


class Mapping(BaseModel):
    """A whole mapping file: one :class:`TableMapping` per canonical table it touches."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = ""
    description: str = ""
    timezone: str = Field(
        LOCAL_TIMEZONE,
        description="IANA zone of the fund's local time: times without an offset are taken "
        "as local, times with one (Z, +07:00) are converted to it",
    )
    tables: dict[TableName, TableMapping] = Field(default_factory=dict)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(
                f"unknown time zone {v!r} (use an IANA name such as {LOCAL_TIMEZONE})"
            ) from exc
        return v

    @model_validator(mode="after")
    def _known_columns(self) -> Mapping:
        for tname, tm in self.tables.items():
            known = set(TABLES[tname].names)
            for section in ("columns", "presence", "values", "date_formats", "split", "constants"):
                unknown = sorted(set(getattr(tm, section)) - known)
                if unknown:
                    raise ValueError(
                        f"tables.{tname}.{section} names unknown canonical column(s) "
                        f"{unknown}; known: {sorted(known)}"
                    )
        return self

    def table(self, name: str) -> TableMapping:
        return self.tables.get(name, TableMapping())  # type: ignore[call-overload, no-any-return]


def load_mapping(path: str | Path) -> Mapping:
    """Read and validate a mapping YAML; raise :class:`ConfigError` naming the problem."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(
            f"mapping file {p} does not exist",
            where=str(p),
            fix="pass an existing YAML file to --mapping, e.g. configs/mappings/xml130_flat.yaml",
        )
    try:
        raw = yaml.safe_load(p.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ConfigError(
            f"mapping file is not valid UTF-8 YAML ({exc})",
            where=str(p),
            fix="fix the YAML syntax (quote codes such as '01')",
        ) from None
    try:
        return Mapping.model_validate(raw or {})
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(x) for x in first["loc"])
        raise ConfigError(
            f"mapping file is invalid: {loc}: {first['msg']}",
            where=str(p),
            fix="use only the keys name, description, tables.<table>.{columns, presence, "
            "values, date_formats, split, constants} with canonical column names",
        ) from None


def _present(s: pd.Series) -> pd.Series:
    """True where a raw value is non-empty."""
    m = s.notna()
    if s.dtype.kind in "OUT" or isinstance(s.dtype, pd.StringDtype):
        m &= s.astype("str") != ""
    return m


def apply_mapping(raw: pd.DataFrame, table: str, tm: TableMapping | None) -> pd.DataFrame:
    """Frame of canonical column names (still raw values) built from ``raw``.

    Without a mapping the canonical names are taken as they are. Source columns not
    used by any canonical column are dropped (they never reach later stages).
    Value maps and date formats are applied later, during coercion.
    """
    tm = tm or TableMapping()
    spec = TABLES[table]
    out: dict[str, pd.Series] = {}
    for col in spec.names:
        if col in tm.presence:
            present = [(src, v) for src, v in tm.presence[col].items() if src in raw.columns]
            if present:
                result = pd.Series(pd.NA, index=raw.index, dtype="str")
                for src, v in reversed(present):
                    result = result.mask(_present(raw[src]), v)
                out[col] = result
                continue
        sources = [s for s in tm.sources(col) if s in raw.columns]
        if sources:
            s = raw[sources[0]]
            for other in sources[1:]:
                s = s.where(_present(s), raw[other])
            if col in tm.split and (s.dtype.kind in "OUT" or isinstance(s.dtype, pd.StringDtype)):
                s = s.astype("str").str.split(tm.split[col], n=1, regex=False).str[0]
            out[col] = s
        elif col in tm.constants:
            out[col] = pd.Series(tm.constants[col], index=raw.index)
    unused = sorted(set(raw.columns) - {s for c in spec.names for s in tm.sources(c)})
    for m in tm.presence.values():
        unused = [u for u in unused if u not in m]
    if unused:
        log.debug("%s: ignoring source columns %s", table, unused)
    return pd.DataFrame(out, index=raw.index, copy=False)
