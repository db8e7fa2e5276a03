"""CLI commands for the triage app's users: `users add/list/disable/enable/set-role`."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated

import typer

from claimguard.commands.options import ConfigOption
from claimguard.commands.triage import DbOption

if TYPE_CHECKING:
    from claimguard.triage.store import Store

log = logging.getLogger(__name__)

RoleOption = Annotated[
    str, typer.Option("--role", help="reviewer (decide), supervisor (assign, export), admin.")
]


@contextmanager
def _store(db: str | None, config: ConfigOption) -> Iterator[Store]:
    """The triage store of the settings (or ``--db``), held under its lock, closed after."""
    from claimguard.settings import load_settings
    from claimguard.triage.store import Store

    t = load_settings(config).triage
    store = Store.open(db or t.db_url, lock_timeout_s=t.db_lock_timeout_seconds)
    try:
        with store.lock_guard():
            yield store
    finally:
        store.close()


def add(
    username: Annotated[str, typer.Argument(help="Sign-in name (letters, digits, . _ @ -).")],
    role: RoleOption = "reviewer",
    password: Annotated[
        str | None,
        typer.Option(
            "--password",
            help="Password (at least 10 characters); asked for when left out, "
            "so it does not land in the shell history.",
        ),
    ] = None,
    db: DbOption = None,
    config: ConfigOption = None,
) -> None:
    """Create a user of the triage app.

    Example: `claimguard users add anna --role supervisor --db sqlite:///triage.db`
    """
    from claimguard.triage.auth import add_user

    if password is None:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    with _store(db, config) as store:
        add_user(store, username, password, role)
    typer.echo(f"User {username} added with role {role}.")


def list_(db: DbOption = None, config: ConfigOption = None) -> None:
    """List the users of the triage app (name, role, enabled, created)."""
    from claimguard.triage.auth import list_users

    with _store(db, config) as store:
        rows = list_users(store)
    if not rows:
        typer.echo("No users yet. Create the first admin: claimguard users add NAME --role admin")
    for r in rows:
        state = "disabled" if r["disabled"] else "enabled"
        typer.echo(f"{r['username']}\t{r['role']}\t{state}\t{r['created_at']:%Y-%m-%d}")


def disable(
    username: Annotated[str, typer.Argument(help="User to disable (sign-in refused at once).")],
    enable: Annotated[bool, typer.Option("--enable", help="Enable the user again.")] = False,
    db: DbOption = None,
    config: ConfigOption = None,
) -> None:
    """Disable a user (or enable again with --enable); their sessions stop working at once."""
    from claimguard.triage.auth import set_disabled

    with _store(db, config) as store:
        set_disabled(store, username, not enable)
    typer.echo(f"User {username} {'enabled' if enable else 'disabled'}.")


def set_role(
    username: Annotated[str, typer.Argument(help="User whose role changes.")],
    role: Annotated[str, typer.Argument(help="reviewer, supervisor or admin.")],
    db: DbOption = None,
    config: ConfigOption = None,
) -> None:
    """Change a user's role (takes effect on their next request)."""
    from claimguard.triage.auth import set_role as _set_role

    with _store(db, config) as store:
        _set_role(store, username, role)
    typer.echo(f"User {username} now has role {role}.")


def register(app: typer.Typer) -> None:
    """Add the `users` group to the main app."""
    group = typer.Typer(help="Users of the triage app (sign-in and roles).", no_args_is_help=True)
    group.command("add")(add)
    group.command("list")(list_)
    group.command("disable")(disable)
    group.command("set-role")(set_role)
    app.add_typer(group, name="users")
