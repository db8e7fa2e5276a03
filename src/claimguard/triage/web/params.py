"""The queue's query parameters and the decision form, validated with pydantic.

Why pydantic: an invalid filter or form gives a 422 page naming the field, never a
500, and a back link can only ever carry a valid queue query.
"""

from __future__ import annotations

from typing import Any, Literal
from urllib.parse import parse_qsl, urlencode

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_core import PydanticUseDefault

from claimguard.schema import SIGNALS, TIERS
from claimguard.triage.store import CASE_STATES, DECISIONS, SORTS, STATUSES, Cursor, QueueFilter


def _blank_to_default(v: Any) -> Any:
    if isinstance(v, str) and not v.strip():
        raise PydanticUseDefault()
    return v.strip() if isinstance(v, str) else v


class QueueParams(BaseModel):
    """Queue filters, sort and keyset cursor as they arrive from the filter form (blank = none)."""

    model_config = ConfigDict(extra="ignore")

    q: str | None = Field(None, max_length=200)  # a card or facility id
    entity_type: Literal["card", "facility"] | None = None
    signal: Literal[SIGNALS] | None = None  # type: ignore[valid-type]
    province: str | None = Field(None, max_length=200)
    tier: Literal[TIERS] | None = None  # type: ignore[valid-type]
    facility: str | None = Field(None, max_length=200)
    score_min: float | None = Field(None, ge=0.0, le=1.0)
    score_max: float | None = Field(None, ge=0.0, le=1.0)
    amount_min: float | None = Field(None, ge=0.0, le=1e15)
    amount_max: float | None = Field(None, ge=0.0, le=1e15)
    status: Literal[STATUSES] | None = None  # type: ignore[valid-type]
    state: Literal[CASE_STATES] | None = None  # type: ignore[valid-type]
    assignee: str | None = Field(None, max_length=80)
    mine: bool = False
    run: int | None = Field(None, ge=1)
    model: str | None = Field(None, max_length=200)
    sort: Literal[SORTS] = "score"  # type: ignore[valid-type]
    after: str | None = Field(None, max_length=400)
    before: str | None = Field(None, max_length=400)

    _blank = field_validator("*", mode="before")(_blank_to_default)

    @field_validator("after", "before")
    @classmethod
    def _cursor(cls, v: str | None) -> str | None:
        if v is not None:
            Cursor.decode(v)  # ValueError -> 422 with the field's name
        return v

    def filter(self, username: str | None = None) -> QueueFilter:
        """The store's filter; ``mine`` means the signed-in ``username``."""
        return QueueFilter(
            entity_type=self.entity_type,
            signal=self.signal,
            province=self.province,
            tier=self.tier,
            score_min=self.score_min,
            score_max=self.score_max,
            status=self.status,
            state=self.state,
            assignee=username if self.mine and username else self.assignee,
            search=self.q,
            facility=self.facility,
            run_id=self.run,
            model_version=self.model,
            amount_min=self.amount_min,
            amount_max=self.amount_max,
        )

    def cursors(self) -> tuple[Cursor | None, Cursor | None]:
        return (
            Cursor.decode(self.after) if self.after else None,
            Cursor.decode(self.before) if self.before else None,
        )

    def query(self, **override: Any) -> str:
        """Query string of these filters (blank and default ones left out), with overrides.

        A change of filter or sort starts from the first page unless a cursor is given.
        """
        values = {**self.model_dump(), **override}
        if any(k not in ("after", "before") for k in override) and not (
            {"after", "before"} & set(override)
        ):
            values["after"] = values["before"] = None
        if values.get("sort") == "score":
            values.pop("sort")
        if not values.get("mine"):
            values.pop("mine", None)
        return urlencode({k: v for k, v in values.items() if v is not None and v != ""})


class DecisionForm(BaseModel):
    """A reviewer's decision as posted by the alert page's form."""

    model_config = ConfigDict(str_strip_whitespace=True)

    decision: Literal[DECISIONS]  # type: ignore[valid-type]
    reviewer: str = Field(min_length=1, max_length=80)  # the signed-in user
    note: str = Field("", max_length=2000)

    @model_validator(mode="after")
    def _dismissal_needs_a_reason(self) -> DecisionForm:
        if self.decision == "dismissed" and not self.note:
            raise ValueError("a dismissal needs its reason in the note")
        return self


def queue_params(back: str) -> QueueParams:
    """The queue parameters of a back link; the unfiltered queue if it is not valid."""
    try:
        return QueueParams.model_validate(dict(parse_qsl(back)))
    except ValidationError:
        return QueueParams()


def safe_next(target: str) -> str:
    """Only a path of this app (never another host) may follow a sign-in."""
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/queue"
    return target


def safe_back(back: str) -> str:
    """Keep only a valid queue query string (so the back link can never leave the app)."""
    params = queue_params(back)
    return params.query(after=params.after, before=params.before)
