"""Safe defaults: with no --store, only a study preset's own cells (at the scale it states, on any
device) go to the committed results/; anything else goes to build/<preset>/results, and `bench report`
writes build/site unless told --out site. A clean clone stays clean after plain commands."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from bench import presets, runner
from bench.cli import main
from bench.options import ENVIRONMENT_NOTICE
from bench.report.write import MARKER

sys.path.insert(0, str(Path(__file__).parent))
from fixtures.report.make_fixture import small  # noqa: E402

STUDY, SMOKE = Path("results"), Path("build/smoke/results")


@pytest.mark.parametrize(("preset", "overrides", "repeats", "store"), [
    ("smoke", {}, 1, SMOKE),
    ("q1a", {}, 1, STUDY),
    ("q1a", {"model": ["resnet18"], "dataset": ["fashion"]}, 1, STUDY),  # a part of the study is the study
    ("q2", {"device": "cuda"}, 1, STUDY),  # q2 runs once per device
    ("q1b", {"test_size": 2000}, 1, Path("build/q1b/results")),  # another scale
    ("q1a", {"epochs": [1]}, 1, Path("build/q1a/results")),  # cells the preset does not have
    ("q1b", {}, 3, Path("build/q1b/results")),  # more seeds than it states
    ("reference", {}, 1, Path("build/reference/results")),  # not a preset of the study
])
def test_the_default_store_holds_only_the_studys_own_cells_in_results(preset, overrides, repeats, store):
    assert presets.default_store(preset, overrides, repeats) == store


def _clean_clone(root: Path) -> dict[Path, bytes]:
    small(root / "results")
    (root / "site").mkdir()
    (root / "site" / MARKER).write_text("")
    (root / "site" / "index.html").write_text("the published report")
    return {p: p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_default_run_and_report_leave_results_and_site_untouched(tmp_path, monkeypatch):
    before = _clean_clone(tmp_path)
    monkeypatch.chdir(tmp_path)
    given = {}
    monkeypatch.setattr(runner, "preflight", lambda *args: None)  # no data needed: nothing trains here
    monkeypatch.setattr(runner, "execute", lambda todo, store, *args, **kw: given.setdefault("store", store.root))
    run = CliRunner().invoke(main, ["run"])
    assert run.exit_code == 0, run.output
    assert given["store"] == SMOKE and (tmp_path / SMOKE / "manifest.json").is_file()
    notes = [line for line in run.stderr.splitlines() if not line.startswith(ENVIRONMENT_NOTICE)]  # BENCH_WORKERS
    assert notes[0].startswith(f"store: {SMOKE} (these cells are not the study's own")
    report = CliRunner().invoke(main, ["report", "--no-pdf", "--repository", ""])
    assert report.exit_code == 0, report.output
    assert (tmp_path / "build" / "site" / "index.html").is_file() and "build/site" in report.stdout
    after = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file() and "build" not in p.parts}
    assert after == before  # results/ and site/ byte for byte, and nothing new beside them
