"""Every `reproduce` command the report prints, fed back through the CLI, plans exactly the run it
was printed for (same run id on this machine), for every run of a store at the study's scale
(checks/ runs the same tests on the committed study)."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest
from click.testing import CliRunner
from fixtures.report.make_fixture import large

from bench.cli import main
from bench.report import commands, load
from bench.spec import RunSpec, identity_of, run_id


@pytest.fixture(scope="module")
def study_store(tmp_path_factory) -> Path:
    return large(tmp_path_factory.mktemp("large") / "store")


def test_every_reproduce_command_plans_exactly_its_run(tmp_path, study_store):
    study = load.read(study_store)
    runs = [r for r in study.runs if r["device"] == "cpu"]
    assert len(runs) > 100
    kinds = set()
    for run in runs:
        command = commands.reproduce(run)
        args = shlex.split(command)
        assert args[:2] == ["bench", "run"], command
        result = CliRunner().invoke(main, ["plan", *args[2:], "--no-estimate", "--store", str(tmp_path)])
        assert result.exit_code == 0, (command, result.output)
        planned = [line.split()[0] for line in result.stdout.splitlines()[:-1]]
        spec = RunSpec(**identity_of(run))
        assert planned == [run_id(spec)], command
        kinds.add((run["kind"], run["preset"]))
    assert {"svm", "resnet"} <= {k for k, _ in kinds} and len({p for _, p in kinds}) >= 3


def test_every_study_command_plans_every_stored_run_it_stands_for(tmp_path, study_store):
    study = load.read(study_store)
    found = commands.study(study.runs)
    assert sum(c["n"] for c in found) == len(study.runs) and len(found) < 10
    planned: set[str] = set()
    for entry in found:
        args = shlex.split(entry["command"])
        result = CliRunner().invoke(main, ["plan", *args[2:], "--no-estimate", "--store", str(tmp_path)])
        assert result.exit_code == 0, (entry["command"], result.output)
        planned |= {line.split()[0] for line in result.stdout.splitlines()[:-1]}
    assert {run_id(RunSpec(**identity_of(r))) for r in study.runs} <= planned
