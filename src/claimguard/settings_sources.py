"""Where settings come from: the YAML file (with the line of each key, for errors) and
``CLAIMGUARD_SECTION__KEY`` environment variables (through pydantic-settings).

Why apart from :mod:`claimguard.settings`: the sections there say *what* can be set;
this says how a file and an environment become one validated :class:`~claimguard.settings.Settings`,
and how a bad key is reported (file and line, or the variable's name).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Optional

import yaml
from pydantic import BaseModel, ValidationError, create_model
from pydantic_settings import BaseSettings, EnvSettingsSource
from pydantic_settings.exceptions import SettingsError
from pydantic_settings.sources.utils import parse_env_vars

from claimguard.errors import ConfigError

ENV_PREFIX = "CLAIMGUARD_"


def key_lines(text: str) -> dict[tuple[str, ...], int]:
    """Map each YAML key path to its 1-based line, so errors can point at it."""
    lines: dict[tuple[str, ...], int] = {}

    def walk(node: Any, path: tuple[str, ...]) -> None:
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                key = (*path, str(k.value))
                lines[key] = k.start_mark.line + 1
                walk(v, key)

    try:
        walk(yaml.compose(text), ())
    except yaml.YAMLError:
        pass
    return lines


# CLAIMGUARD_* variables that are not settings (tests, CI, the bundle key): not rejected.
OTHER_ENV_VARIABLES = frozenset(
    {
        "CLAIMGUARD_TEST_PG_URL",
        "CLAIMGUARD_CHROMIUM",
        "CLAIMGUARD_ARTIFACTS",
        "CLAIMGUARD_SERVE_APP",
    }
)
NONE_VALUE = "null"  # CLAIMGUARD_SCORING__SCORE_THRESHOLD=null resets an optional setting


def _env_shape(model: type[BaseModel]) -> type[BaseSettings]:
    """A BaseSettings twin of ``model`` (the Settings) whose sections are all optional."""
    fields: dict[str, Any] = {
        name: (Optional[field.annotation], None)  # noqa: UP045 - a runtime type, not a hint
        for name, field in model.model_fields.items()
    }
    return create_model(
        "EnvOverrides",
        __base__=BaseSettings,
        __config__=None,
        **fields,
    )


class _EnvSource(EnvSettingsSource):
    """pydantic-settings' environment source reading a given mapping (tests pass one)."""

    def __init__(self, model: type[BaseModel], environ: Mapping[str, str]) -> None:
        self._environ = environ
        super().__init__(
            _env_shape(model),
            case_sensitive=False,
            env_prefix=ENV_PREFIX,
            env_nested_delimiter="__",
            env_parse_none_str=NONE_VALUE,
        )

    def _load_env_vars(self) -> Mapping[str, str | None]:
        return parse_env_vars(self._environ, False, False, NONE_VALUE)


def check_env_names(
    settings_model: type[BaseModel], environ: Mapping[str, str]
) -> dict[tuple[str, str], str]:
    """Reject CLAIMGUARD_* variables that name no setting; map (section, key) -> variable."""
    known: dict[tuple[str, str], str] = {}
    for name in environ:
        upper = name.upper()
        if not upper.startswith(ENV_PREFIX) or upper in OTHER_ENV_VARIABLES:
            continue
        section, _, key = upper[len(ENV_PREFIX) :].lower().partition("__")
        model = settings_model.model_fields.get(section)
        if model is not None and not key and not hasattr(model.annotation, "model_fields"):
            known[(section, key)] = name  # a top-level setting (CLAIMGUARD_ENGINE=spark)
            continue
        fields = getattr(model.annotation, "model_fields", {}) if model is not None else {}
        if key not in fields:
            if model is None:
                hint = "sections: " + ", ".join(settings_model.model_fields)
            else:
                hint = f"keys of {section}: " + ", ".join(fields)
            raise ConfigError(
                f"The environment variable {name} names no setting",
                where="environment",
                fix=f"write CLAIMGUARD_SECTION__KEY ({hint}), or unset it; "
                "`claimguard config schema` lists every setting",
            )
        known[(section, key)] = name
    return known


def env_overrides(
    model: type[BaseModel],
    environ: Mapping[str, str],
    names: Mapping[tuple[str, str], str] | None = None,
) -> dict[str, Any]:
    """``CLAIMGUARD_SECTION__KEY=value`` as ``{section: {key: value}}`` (pydantic-settings);
    lists and mappings are JSON, ``null`` is None, the rest is validated by the settings model."""
    try:
        values = _EnvSource(model, environ)()
    except SettingsError as exc:
        cause = exc.__cause__ if exc.__cause__ is not None else exc
        variables = sorted(
            v for (section, _), v in (names or {}).items() if f'field "{section}"' in str(exc)
        )
        raise ConfigError(
            f"An environment override cannot be read ({exc}: {cause})",
            where="environment variable " + (", ".join(variables) or "CLAIMGUARD_*"),
            fix="write lists and mappings as JSON, e.g. "
            "CLAIMGUARD_MODEL__EXCLUDE_FEATURES='[\"card_visits_count\"]'",
        ) from exc
    return {k: v for k, v in values.items() if v is not None}


def read_yaml(cfg_path: Path) -> tuple[str, dict[str, Any]]:
    if not cfg_path.exists():
        raise ConfigError(
            f"Config file {cfg_path} does not exist",
            where=str(cfg_path),
            fix="pass --config with an existing YAML file, e.g. configs/default.yaml",
        )
    text = cfg_path.read_text(encoding="utf-8")
    try:
        raw = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f", line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(
            f"Config file is not valid YAML ({getattr(exc, 'problem', exc)})",
            where=f"{cfg_path}{line}",
            fix="correct the YAML syntax (indentation, colons, quotes)",
        ) from exc
    if not isinstance(raw, dict):
        raise ConfigError(
            "Config file must be a mapping of sections (generate, features, model, ...)",
            where=str(cfg_path),
            fix="see `claimguard config schema` for the layout",
        )
    return text, raw


def invalid(
    exc: ValidationError,
    text: str,
    cfg_path: Path | None,
    from_env: dict[tuple[str, str], str],
) -> ConfigError:
    """One ConfigError naming each bad key: its variable if the environment set it, else
    the file and line."""
    lines = key_lines(text)
    problems = []
    env_only = True
    for err in exc.errors():
        loc = tuple(str(p) for p in err["loc"])
        msg = "unknown key" if err["type"] == "extra_forbidden" else err["msg"]
        variable = from_env.get((loc[0], loc[1]) if len(loc) >= 2 else (loc[0], ""))
        if variable is not None:
            problems.append(f"environment variable {variable}: {msg}")
            continue
        env_only = False
        line_no = lines.get(loc) or lines.get(loc[:-1])
        at = f" (line {line_no})" if line_no else ""
        problems.append(f"'{'.'.join(loc)}'{at}: {msg}")
    where = "environment" if env_only or cfg_path is None else str(cfg_path)
    return ConfigError(
        "Invalid config: " + "; ".join(problems),
        where=where,
        fix="remove or correct the named key(s) or variable(s); `claimguard config schema` "
        "lists every allowed key",
    )
