"""The report's `reproduce` and study commands, fed back through the CLI, plan exactly the runs they
stand for: tests/test_reproduce.py's tests, on every run of the committed study."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_reproduce import (  # noqa: F401 -- collected here, on the store below
    test_every_reproduce_command_plans_exactly_its_run,
    test_every_study_command_plans_every_stored_run_it_stands_for,
)


@pytest.fixture(scope="module")
def study_store(committed_store) -> Path:
    return committed_store
