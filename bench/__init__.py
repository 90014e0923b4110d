"""bench: run a deep-learning benchmark study end to end and publish it as a report."""

__version__ = "0.1.0"
