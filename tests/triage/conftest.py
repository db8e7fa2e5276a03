"""Fixtures of the triage tests: a sample scored folder and a store on SQLite or PostgreSQL.

The `db_url` fixture is parametrised so every store/API test runs on both backends;
the PostgreSQL case is skipped only when CLAIMGUARD_TEST_PG_URL is unset (CI sets it).
Each PostgreSQL test gets its own schema (search_path), so parallel workers never meet.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

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
