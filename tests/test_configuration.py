"""One configuration scheme: every option of every command reads exactly one variable, BENCH_ and
its name; the README lists each once; a variable that rewrites what runs is announced; the
Makefile, compose and SLURM files use one set of names."""

from __future__ import annotations

import re
from pathlib import Path

import click
from click.testing import CliRunner

from bench.cli import main
from bench.options import variable

ROOT = Path(__file__).resolve().parents[1]


def options(group: click.Group = main, path: str = "bench"):
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            yield from options(command, f"{path} {name}")
        else:
            for param in command.params:
                if isinstance(param, click.Option):
                    yield f"{path} {name}", param


def test_every_option_has_exactly_one_variable_named_after_it():
    found = list(options())
    assert len(found) > 30
    for command, option in found:
        assert isinstance(option.envvar, str), (command, option.name, option.envvar)
        assert option.envvar == "BENCH_" + option.name.upper(), (command, option.name)
        assert option.show_envvar, (command, option.name)
    assert not main.context_settings.get("auto_envvar_prefix")  # no second, per-command name


def test_readme_lists_each_variable_once_in_its_table():
    readme = (ROOT / "README.md").read_text()
    table = readme[readme.index("### Configuration"):]
    table = table[: table.index("\n\n", table.index("| variable |"))]
    rows = re.findall(r"^\| `(BENCH_[A-Z_]+)` \| `(--[\w-]+)` \|", table, re.M)
    documented = [v for v, _ in rows]
    assert len(documented) == len(set(documented))
    expected = {(variable(o), o.opts[0]) for _, o in options()}
    assert set(rows) == expected


def _plan(env: dict) -> CliRunner:
    return CliRunner().invoke(main, ["plan", "--preset", "smoke", "--no-estimate", "--store", "/nonexistent"],
                              env={"BENCH_WORKERS": None, **env})  # not the tests' own (conftest.py)


def test_the_variable_works_is_announced_and_other_names_do_nothing():
    base = _plan({})
    assert base.exit_code == 0 and "bs=32" in base.output and "from the environment" not in base.output
    by_variable = _plan({"BENCH_BATCH_SIZE": "64"})
    assert by_variable.exit_code == 0, by_variable.output
    assert "bs=64" in by_variable.output and "bs=32" not in by_variable.output
    assert "from the environment: BENCH_BATCH_SIZE=64" in by_variable.output
    for stale in ("BENCH_PLAN_BATCH_SIZE", "BENCH_RUN_EPOCHS", "BENCH_PLAN_EPOCHS"):
        assert _plan({stale: "64"}).output == base.output, stale


def test_every_command_announces_its_options_from_the_environment(tmp_path):
    from bench.store import Store

    Store(tmp_path, create=True)
    listing = CliRunner().invoke(main, ["ls", "--store", str(tmp_path)], env={"BENCH_STATUS": "done"})
    assert listing.exit_code == 0 and "from the environment: BENCH_STATUS=done" in listing.output
    check = CliRunner().invoke(main, ["store", "check", "--store", str(tmp_path)], env={"BENCH_REPAIR": "1"})
    assert "from the environment: BENCH_REPAIR=True" in check.output


def _read_variables(text: str) -> set[str]:
    """Shell and compose variables a file reads: ${NAME}, ${NAME:-x}, ${NAME-x}, ${NAME:?x}."""
    return set(re.findall(r"\$\{([A-Z][A-Z0-9_]*)[:?\-}]", text))


def test_make_compose_and_slurm_share_one_set_of_names():
    makefile = (ROOT / "Makefile").read_text()
    make_vars = set(re.findall(r"^([A-Z_]+) \?=", makefile, re.M))
    assert {"DEVICE", "PRESET", "RUNNER", "ENGINE", "DATA", "STORE", "SITE", "ARTIFACTS", "IMAGE"} <= make_vars
    bench_vars = {variable(o) for _, o in options()}
    own = {  # what only one file has: its own paths and the scheduler's variables
        "docker/compose.yaml": {"UID_GID", "TORCH_INDEX_URL", "GIT_COMMIT"},
        "deploy/slurm/study.sbatch": {"RESULTS", "BENCH_ARGS", "SLURM_ARRAY_TASK_ID", "SLURM_ARRAY_TASK_COUNT"},
        "deploy/slurm/merge.sbatch": {"RESULTS", "BENCH"},
    }
    for name, extra in own.items():
        used = _read_variables((ROOT / name).read_text())
        assert used, name
        assert used <= make_vars | bench_vars | extra, (name, used - make_vars - bench_vars - extra)
    study = (ROOT / "deploy/slurm/study.sbatch").read_text()
    assert "RUNNER must be container or local" in study and "ENGINE must be apptainer or podman" in study
    assert "RUNNER must be auto, container or local" in makefile
