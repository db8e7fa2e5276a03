"""The ``claimguard`` command: parse arguments, load settings, call one function.

Exit codes (docs/contract.md section 5): 0 success, 2 bad input or usage, 1 anything else,
3 drift beyond limits with ``--fail-on-drift``, 4 quarantine limit, 130/143 SIGINT/SIGTERM. Expected failures are
:class:`claimguard.errors.UserError` and print one paragraph without a traceback;
``--debug`` shows tracebacks for everything.
"""

from __future__ import annotations

import json
import logging
import sys
import traceback
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from typer._click.exceptions import ClickException, NoArgsIsHelpError  # typer's vendored click

from claimguard import __version__
from claimguard.commands.options import ConfigOption
from claimguard.errors import EXIT_UNEXPECTED, EXIT_USER, UserError
from claimguard.logs import setup_logging
from claimguard.settings import Settings, load_settings
from claimguard.signals import Interrupted, interruptible

app = typer.Typer(
    name="claimguard",
    help=(
        "Find abuse in health-insurance claims: validate claims, build per-card and "
        "per-facility features, score them with an isolation forest, and write ranked "
        "alerts with reasons.\n\nStart with `claimguard demo`."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="markdown",
)
config_app = typer.Typer(
    help="Show the effective settings or their JSON schema.", no_args_is_help=True
)
app.add_typer(config_app, name="config")

console = Console()
err_console = Console(stderr=True)


def _version(value: bool) -> None:
    if value:
        console.print(f"claimguard {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    verbose: Annotated[
        int, typer.Option("--verbose", "-v", count=True, help="More log output.")
    ] = 0,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Only warnings and errors.")] = False,
    debug: Annotated[
        bool, typer.Option("--debug", help="Show tracebacks for every error.")
    ] = False,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")
    ] = False,
) -> None:
    setup_logging(-1 if quiet else (2 if debug else verbose))


def settings_from(config: Path | None) -> Settings:
    """Load settings for a command (shared by every command module)."""
    return load_settings(config)


@config_app.command("show")
def config_show(config: ConfigOption = None) -> None:
    """Print the effective settings (file + CLAIMGUARD_* environment overrides) as YAML.

    Example: `CLAIMGUARD_MODEL__N_ESTIMATORS=50 claimguard config show`
    """
    import yaml

    s = settings_from(config)
    console.print(yaml.safe_dump(s.model_dump(mode="json"), sort_keys=False), end="", markup=False)


@config_app.command("schema")
def config_schema() -> None:
    """Print the JSON schema of the settings file.

    Example: `claimguard config schema > settings.schema.json`
    """
    print(json.dumps(Settings.model_json_schema(), indent=2))


def _register_commands() -> None:
    from claimguard.commands import data, features, lifecycle, model, scoring, synth, triage

    for module in (synth, data, features, model, scoring, triage, lifecycle):
        module.register(app)
    from claimguard.commands import users

    users.register(app)

    from claimguard.commands import monitor as monitor_commands  # early warnings

    monitor_commands.register(app)


_register_commands()


def run(argv: list[str] | None = None) -> int:
    """Run the CLI and return its exit code (tests call this; ``main`` exits with it)."""
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args
    command = typer.main.get_command(app)
    try:
        with interruptible():
            result: Any = command.main(args=args, prog_name="claimguard", standalone_mode=False)
        return int(result) if isinstance(result, int) else 0
    except Interrupted as exc:
        err_console.print(
            f"Interrupted by {exc}: stopped, temporary files removed, earlier outputs untouched.",
            markup=False,
            highlight=False,
        )
        return exc.exit_code
    except UserError as exc:
        if debug:
            traceback.print_exc()
        err_console.print(
            f"Error: {exc.paragraph()}", markup=False, highlight=False, soft_wrap=True
        )
        return exc.exit_code
    except typer.Exit as exc:
        return int(exc.exit_code)
    except typer.Abort:
        err_console.print("Aborted.", markup=False)
        return EXIT_UNEXPECTED
    except NoArgsIsHelpError as exc:
        exc.show()
        return 0
    except ClickException as exc:
        exc.show()
        return EXIT_USER if exc.exit_code == 2 else int(exc.exit_code)
    except KeyboardInterrupt:
        err_console.print("Interrupted.", markup=False)
        return 130
    except Exception as exc:  # noqa: BLE001 - the one place that turns bugs into exit 1
        if debug:
            traceback.print_exc()
        logging.getLogger("claimguard").debug("unexpected error", exc_info=True)
        err_console.print(
            f"Unexpected error: {type(exc).__name__}: {exc}. This is a bug in claimguard; "
            "run again with --debug for the traceback and report it.",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
        return EXIT_UNEXPECTED


def main() -> None:
    """Console-script entry point."""
    sys.exit(run())
