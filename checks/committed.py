"""What the checks on the committed study share: where it lies and the counts its presets plan."""

from __future__ import annotations

from pathlib import Path

from bench import plan, presets

RESULTS = Path(__file__).resolve().parents[1] / "results"
# Every Q1(a) cell is stored (the CPU half of the study is complete): the checks hold the store to it.
Q1A_DONE_AT_LEAST = 128


def preset_cells(name: str) -> list[plan.Cell]:
    """The cells preset `name` plans at the scale it states: the study's counts come from here."""
    return plan.cells_of(presets.load(name).specs())
