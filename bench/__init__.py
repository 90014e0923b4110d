"""bench: run a deep-learning benchmark study end to end and publish it as a report."""

from __future__ import annotations

__version__ = "0.1.0"


def load(path="results"):
    """The store at `path` as pandas DataFrames (`bench.notebook.Results`: runs, epochs, timings,
    state), for a notebook: `bench.load("results").runs.groupby("model").test_acc.max()`.
    Imported on first use, so `import bench` stays light."""
    from bench.notebook import load as read

    return read(path)
