"""`bench store`: the commands that check, repair, migrate, merge and prune a store (the work is
in bench.maintenance)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from bench import options
from bench.errors import BenchError


@click.group("store", cls=options.OneLineErrors)
def group() -> None:
    """Check, repair, migrate, merge and prune stores."""


@group.command("merge")
@click.argument("sources", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--into", type=click.Path(path_type=Path), default=Path("results"), show_default=True)
def merge_cmd(sources: tuple[Path, ...], into: Path) -> None:
    """Merge SOURCES stores into --into without duplicates; conflicts are reported."""
    from bench import maintenance

    summary = maintenance.merge(list(sources), into)
    for note in summary.notes:
        click.echo(note, err=True)
    click.echo(f"merged: {summary.added} runs added, {summary.duplicates} duplicates skipped, "
               f"{len(summary.conflicts)} conflicts")
    for conflict in summary.conflicts:
        click.echo(f"conflict: {conflict}", err=True)


@group.command("migrate")
@options.store
def migrate_cmd(store: Path) -> None:
    """Upgrade a store written by an older bench to the current schema."""
    from bench import maintenance

    click.echo(maintenance.migrate(store))


@group.command("check")
@options.store
@click.option("--repair", is_flag=True, help="Move bad lines to quarantine/ (nothing is deleted).")
def check_cmd(store: Path, repair: bool) -> None:
    """Find torn lines, duplicates, unknown columns and schema mismatches."""
    from bench import maintenance

    problems = maintenance.check(store, repair=repair)
    for problem in problems:
        click.echo(problem)
    remaining = maintenance.check(store) if repair and problems else problems
    if remaining:
        click.echo(f"{len(remaining)} problems remain" if repair else "run with --repair to move bad lines to "
                   "quarantine/", err=True)
        sys.exit(1)
    click.echo("store is sound" if not problems else "repaired: bad lines are in quarantine/")


def _where(pairs: tuple[str, ...]) -> dict[str, set[str]]:
    out = {}
    for pair in pairs:
        column, sep, values = pair.partition("=")
        if not sep or not column.strip():
            raise BenchError(f"--where {pair!r}: give COLUMN=VALUE[,VALUE...], e.g. test_size=2000")
        out[column.strip()] = {v.strip() for v in values.split(",")}
    return out


@group.command("drop")
@options.store
@click.option("--where", "where", multiple=True, metavar="COLUMN=VALUE[,VALUE]",
              help="Drop the attempts whose runs.csv column has one of the values, as stored; repeat to "
                   "require several (e.g. --where preset=q1a,q2 --where test_size=2000).")
@click.option("--dry-run", is_flag=True, help="Say what would be dropped; change nothing.")
def drop_cmd(store: Path, where: tuple[str, ...], dry_run: bool) -> None:
    """Take stored attempts out of the store, with their curves and timings (a copy goes to backup/)."""
    from bench import maintenance

    click.echo(maintenance.drop(store, _where(where), dry_run=dry_run))
