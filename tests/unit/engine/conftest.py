"""Fixtures for the engine tests: a fresh vmrestore home with a real state file and owner lock."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from vmrestore.engine import Journal, ProcessOwner, StateStore

REPO_ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


@pytest.fixture
def state(home: Path) -> Iterator[StateStore]:
    store = StateStore(home / "state.sqlite")
    yield store
    store.close()


@pytest.fixture
def owner(home: Path) -> Iterator[ProcessOwner]:
    me = ProcessOwner.for_home(home)
    yield me
    me.close()


@pytest.fixture
def journal(state: StateStore, owner: ProcessOwner) -> Journal:
    return Journal(state, owner)


def python(code: str, *args: str) -> subprocess.Popen[str]:
    """Start a real Python process running ``code`` with the repository importable."""
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT))
    return subprocess.Popen(
        [sys.executable, "-c", code, *args],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
