"""Checks on the committed study (results/), apart from the tests of behaviour: `make check-results`
runs them. They read a migrated copy of results/, never results/ itself."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from committed import RESULTS

from bench import maintenance


@pytest.fixture(scope="session")
def committed_store(tmp_path_factory) -> Path:
    """The committed study as this bench reads it: a copy of results/, migrated when results/ is at
    an older schema (a campaign appends to the committed store, which is migrated between chunks)."""
    copy = tmp_path_factory.mktemp("committed") / "results"
    shutil.copytree(RESULTS, copy, ignore=shutil.ignore_patterns("claims", "backup", "quarantine", ".lock*"))
    maintenance.migrate(copy)
    return copy
