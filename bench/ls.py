"""`bench ls`: the latest stored attempts as a table, CSV or JSON, filtered, sorted and cut to the
columns asked for. Rows are those of `bench.load(store).runs` (the same latest attempts, the same
names: every column is a runs.csv column)."""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import TYPE_CHECKING

import click

from bench import options
from bench.errors import BenchError
from bench.schema import RUN_COLUMNS

if TYPE_CHECKING:  # pandas is imported by the command itself: every other command starts without it
    import pandas as pd

FORMATS = ("table", "csv", "json")
COLUMNS = ("run_id", "preset", "status", "device", "dataset", "label", "optimizer", "lr", "batch_size", "epochs",
           "pin_memory", "seed", "test_acc", "val_acc", "train_time_s")


def names(option: str, text: str) -> list[str]:
    """Comma-separated runs.csv column names (`--sort` may prefix one with `-`: descending)."""
    out = [name.strip() for name in text.split(",") if name.strip()]
    for name in out:
        if name.removeprefix("-") not in RUN_COLUMNS:
            near = difflib.get_close_matches(name.removeprefix("-"), RUN_COLUMNS, n=1)
            raise BenchError(f"--{option}: no column {name!r}" + (f" (did you mean {near[0]!r}?)" if near else "")
                             + "; the columns are those of runs.csv")
    if not out:
        raise BenchError(f"--{option}: give column names, comma-separated, e.g. test_acc,train_time_s")
    return out


def select(runs: pd.DataFrame, filters: dict[str, str | None], columns: list[str], sort: list[str]) -> pd.DataFrame:
    """The rows matching every filter (`preset`: one of a comma-separated list; `model`, `label`: the
    text anywhere in the column; others: equal), sorted (`-name`: descending; missing values last),
    with only `columns`."""
    for column, value in filters.items():
        if not value:
            continue
        if column == "preset":
            keep = runs[column].isin([v.strip() for v in value.split(",")])
        elif column in ("model", "label"):
            keep = runs[column].str.contains(value, regex=False)
        else:
            keep = runs[column] == value
        runs = runs[keep.fillna(False).astype(bool)]
    if sort:
        runs = runs.sort_values([s.removeprefix("-") for s in sort], ascending=[not s.startswith("-") for s in sort],
                                na_position="last", kind="stable")
    return runs[columns].reset_index(drop=True)


def render(runs: pd.DataFrame, fmt: str) -> str:
    """table: aligned text, missing values blank; csv: pandas' CSV (missing values empty, read back by
    `pandas.read_csv`); json: a list of objects (missing values null)."""
    if fmt == "csv":
        return runs.to_csv(index=False).rstrip("\n")
    if fmt == "json":
        return runs.to_json(orient="records")
    if not len(runs):
        return "no runs"
    return runs.astype(object).where(runs.notna(), "").to_string(index=False)


@click.command("ls", cls=options.Announced)
@options.store
@click.option("--preset", help="Only runs of these presets, comma-separated, e.g. q1a,q1b.")
@click.option("--status", help="Only runs with this status (done, diverged, error).")
@click.option("--dataset", help="Only this dataset.")
@click.option("--model", help="Only runs whose model (resnet18, svc, ...) contains this text.")
@click.option("--label", help="Only runs whose label (the variant: resnet18-cifarstem, svc-poly3) contains this text.")
@click.option("--columns", default=",".join(COLUMNS), show_default=True,
              help="The runs.csv columns to show, comma-separated, in this order.")
@click.option("--sort", help="Sort by these columns, comma-separated; -name sorts descending (e.g. -test_acc).")
@click.option("--format", type=click.Choice(FORMATS), default="table", show_default=True,
              help="table for reading; csv or json for pandas, jq and spreadsheets.")
def command(store: Path, columns: str, sort: str | None, **filters: str | None) -> None:
    """The latest stored attempt of every cell (as `bench.load` reads them)."""
    from bench.attempts import latest
    from bench.store import Store

    shown, order = names("columns", columns), names("sort", sort) if sort else []
    stored = Store(store)
    for note in stored.torn_tails():
        click.echo(note, err=True)
    fmt = filters.pop("format")  # the option's name, so that its variable is BENCH_FORMAT
    click.echo(render(select(latest(stored), filters, shown, order), fmt))
