"""Every output folder is created and written to before any work: a store, artifacts or report folder
that cannot be written fails in one line, and nothing is trained or rendered."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from click.testing import CliRunner
from fixtures.report.make_fixture import small

from bench import runner
from bench.cli import main

SVM = """
[[grid]]
kind = "svm"
dataset = "mnist"
kernel = "rbf"
C = 1.0
n_train = 60
"""


@pytest.fixture
def read_only(tmp_path) -> Path:
    """A folder nobody may write to: chmod for a user; the tests run as root, which chmod does not stop,
    so there sysfs, whose folders refuse new files to root too."""
    if os.geteuid() == 0:
        return Path("/sys")
    folder = tmp_path / "read-only"
    folder.mkdir()
    folder.chmod(0o555)
    return folder


def _one_line_error(result) -> str:
    assert result.exit_code == 1 and "Traceback" not in result.output, result.output
    lines = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert len(lines) == 1, result.output
    return lines[0]


@pytest.mark.parametrize("option", ["--artifacts", "--store"])
def test_a_read_only_output_folder_fails_before_training(option, read_only, tiny_data, tmp_path, monkeypatch):
    preset = tmp_path / "svm.toml"
    preset.write_text(SVM)
    monkeypatch.setattr(runner, "execute", lambda *a, **k: pytest.fail("trained despite an unwritable folder"))
    folders = {"--store": tmp_path / "store", "--artifacts": tmp_path / "artifacts", option: read_only}
    result = CliRunner().invoke(main, ["run", "--preset", str(preset), "--data-dir", str(tiny_data), "--quiet",
                                       *(str(a) for pair in folders.items() for a in pair)])
    line = _one_line_error(result)
    assert line.startswith(f"Error: {option} {read_only}: cannot write there (")
    assert line.endswith("); nothing was trained")
    assert not (tmp_path / "store" / "runs.csv").exists()


def test_missing_output_folders_are_created_before_training(tiny_data, tmp_path):
    preset = tmp_path / "svm.toml"
    preset.write_text(SVM)
    store, artifacts = tmp_path / "deep" / "store", tmp_path / "deeper" / "still" / "artifacts"
    result = CliRunner().invoke(main, ["run", "--preset", str(preset), "--data-dir", str(tiny_data), "--quiet",
                                       "--store", str(store), "--artifacts", str(artifacts)])
    assert result.exit_code == 0, result.output
    assert artifacts.is_dir() and not any(artifacts.iterdir())  # created; an SVM has no weights
    assert not list(store.glob(".bench-probe-*"))  # the probe leaves nothing behind


def test_an_unwritable_report_folder_fails_before_rendering(read_only, tmp_path):
    result = CliRunner().invoke(main, ["report", "--store", str(small(tmp_path / "store")),
                                       "--out", str(read_only / "site"), "--no-pdf", "--repository", ""])
    line = _one_line_error(result)
    assert line.startswith(f"Error: --out {read_only / 'site'}: cannot write there (")
    assert line.endswith("nothing was written")
