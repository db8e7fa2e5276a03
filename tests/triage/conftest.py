"""Fixtures of the triage tests: a sample scored folder and a store on SQLite or PostgreSQL.

The `db_url` fixture is parametrised so every store/API test runs on both backends;
the PostgreSQL case is skipped only when CLAIMGUARD_TEST_PG_URL is unset (CI sets it).
Each PostgreSQL test gets its own schema (search_path), so parallel workers never meet.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text

from claimguard.triage.app import create_app
from claimguard.triage.auth import add_user
from claimguard.triage.load import load_folder
from claimguard.triage.sample import write_sample_folder
from claimguard.triage.store import Store
from tests.triage.pages import sign_in

PG_URL = os.environ.get("CLAIMGUARD_TEST_PG_URL")


@pytest.fixture
def scored_folder(tmp_path: Path) -> Path:
    out = tmp_path / "scored"
    write_sample_folder(out, n_cards=30, n_facilities=6, seed=3)
    return out


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'triage.db'}"
        return
    if not PG_URL:
        pytest.skip("CLAIMGUARD_TEST_PG_URL is not set (CI sets it; see .ci/run)")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in PG_URL else "?"
    yield f"{PG_URL}{sep}options={quote(f'-csearch_path={schema}')}"
    with admin.begin() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    s = Store.open(db_url)
    yield s
    s.close()


# One user per role; the tests' default client is signed in as the supervisor.
PASSWORD = "correct horse battery"
USERS = {"rita": "reviewer", "sam": "supervisor", "ada": "admin"}


def add_test_users(store: Store) -> None:
    for name, role in USERS.items():
        add_user(store, name, PASSWORD, role)


@pytest.fixture
def client(store: Store, scored_folder: Path) -> Iterator[TestClient]:
    load_folder(store, scored_folder)
    add_test_users(store)
    with TestClient(create_app(store, page_size=10)) as c:
        sign_in(c, "sam")
        yield c
