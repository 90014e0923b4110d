"""`bench time`: each ResNet cell's speed measured alone, stored in timings.csv, refused beside
another bench process, and used (labelled) by the report's Q2 table."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest
from click.testing import CliRunner
from fixtures.report.make_fixture import small

from bench import claims
from bench.claims import boot_id, started
from bench.cli import main
from bench.report import build
from bench.report.load import read
from bench.store import Store

GRID = ('[[grid]]\nmodel = "resnet20"\ndataset = "mnist"\nepochs = [1, 2]\nbatch_size = 16\n\n'
        '[[grid]]\nkind = "svm"\ndataset = "mnist"\nn_train = 60\n')


@pytest.fixture(autouse=True)
def _alone_on_this_machine(monkeypatch, request):
    """These tests must not depend on what else the developer's machine runs (a study in the
    background): the /proc scan sees nothing unless a test asks for it."""
    if "machine" not in request.node.name:
        monkeypatch.setattr(claims, "bench_processes", lambda: [])


def _time(tmp_path, data, *extra):
    preset = tmp_path / "grid.toml"
    preset.write_text(GRID)
    return CliRunner().invoke(main, ["time", "--preset", str(preset), "--store", str(tmp_path / "store"),
                                     "--data-dir", str(data), "--steps", "3", "--blocks", "3", *extra])


def test_each_resnet_cell_gets_a_row_of_its_group_measurement(tiny_data, tmp_path):
    result = _time(tmp_path, tiny_data)
    assert result.exit_code == 0, result.output
    rows = Store(tmp_path / "store").timings()
    assert len(rows) == 2 and set(rows["label"]) == {"resnet20"}  # the SVM is not timed
    assert rows["images_per_s"].nunique() == 1  # epochs 1 and 2: one computation, measured once
    row = rows.iloc[0]
    assert 0 < row["min_images_per_s"] <= row["images_per_s"] <= row["max_images_per_s"]
    assert (row["steps"], row["blocks"], row["concurrency"], row["amp_dtype"]) == (3, 3, 1, "fp32")
    assert Store(tmp_path / "store").runs().empty  # it trains and stores no run
    line = next(line for line in result.output.splitlines() if "images/s" in line)
    assert line.startswith(row["run_id"]) and " adam " in line and "lr=0.001" in line  # which cell it was
    assert _time(tmp_path, tiny_data).exit_code == 0
    assert len(Store(tmp_path / "store").timings()) == 4  # a second measurement is kept beside the first


def test_refused_beside_another_bench_process(tiny_data, tmp_path):
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        claims = tmp_path / "store" / "claims"
        Store(tmp_path / "store", create=True)
        claims.mkdir(exist_ok=True)
        (claims / "someone-elses-cell").write_text(f"{boot_id()} {other.pid} {started(other.pid)}\n")
        result = _time(tmp_path, tiny_data)
        assert result.exit_code == 1 and "measures alone" in result.output
        assert len(result.output.strip().splitlines()) <= 2 and "Traceback" not in result.output
        assert Store(tmp_path / "store").timings().empty
    finally:
        other.kill()
        other.wait()


def test_refused_beside_a_bench_run_of_another_store_on_this_machine(tiny_data, tmp_path):
    fake = tmp_path / "bin" / "bench"  # a process whose command line is `bench run ...`
    fake.parent.mkdir()
    fake.write_text(f"#!{sys.executable}\nimport time\ntime.sleep(60)\n")
    fake.chmod(0o755)
    other = subprocess.Popen([str(fake), "run", "--store", str(tmp_path / "elsewhere")])
    try:
        for _ in range(50):  # until its command line shows in /proc
            if any(f"pid {other.pid}:" in p for p in claims.bench_processes()):
                break
            time.sleep(0.1)
        result = _time(tmp_path, tiny_data)
        assert result.exit_code == 1 and "measures alone" in result.output and f"pid {other.pid}: bench run" \
            in result.output and "--beside-others" in result.output
        assert Store(tmp_path / "store").timings().empty
        anyway = _time(tmp_path, tiny_data, "--beside-others")
        assert anyway.exit_code == 0, anyway.output
        assert (Store(tmp_path / "store").timings()["concurrency"] >= 2).all()  # recorded as not alone
    finally:
        other.kill()
        other.wait()


def test_q2_table_shows_rates_timed_alone_and_ignores_shared_ones(tmp_path):
    root = small(tmp_path / "store")
    q2 = [r for r in read(root).runs if r["preset"] == "q2"]
    row = {"preset": "q2", "steps": 20, "blocks": 5, "threads": 2, "started_at": "2000-01-02T00:00:00+00:00"}
    Store(root).append_timings([{**row, "run_id": q2[0]["run_id"], "record_id": "t1", "images_per_s": 1234.0,
                                 "min_images_per_s": 1200.0, "max_images_per_s": 1250.0, "concurrency": 1},
                                {**row, "run_id": q2[1]["run_id"], "record_id": "t2", "images_per_s": 999.0,
                                 "min_images_per_s": 990.0, "max_images_per_s": 1010.0, "concurrency": 2}])
    build(root, tmp_path / "site", pdf=False)
    html = (tmp_path / "site" / "index.html").read_text()
    table = html[html.index('<section id="q2"'):html.index("</section>", html.index('<section id="q2"'))]
    assert "images/s timed alone" in table and "1,234" in table
    assert "999" not in table  # measured beside another cell: not a speed
    assert (tmp_path / "site" / "data" / "timings.csv").exists()


def test_timings_travel_with_a_merge_once(tmp_path):
    from bench import maintenance

    sources = []
    for name in ("a", "b"):
        store = Store(tmp_path / name, create=True)
        store.append_timings([{"run_id": f"cell{name}", "record_id": f"rec{name}", "images_per_s": 100.0,
                               "started_at": "2000-01-01T00:00:00+00:00"}])
        sources.append(tmp_path / name)
    for _ in range(2):  # a rerun adds nothing twice
        maintenance.merge(sources, tmp_path / "into")
        assert sorted(Store(tmp_path / "into").timings()["record_id"]) == ["reca", "recb"]


def test_store_check_finds_and_repairs_bad_timing_lines(tmp_path):
    from bench import maintenance

    store = Store(tmp_path, create=True)
    store.append_timings([{"run_id": "cell", "record_id": "rec1", "images_per_s": 100.0}])
    with (tmp_path / "timings.csv").open("a") as f:
        f.write('cell,rec2,"unterminated\n')
    problems = maintenance.check(tmp_path)
    assert any(p.startswith("timings.csv:") for p in problems)
    maintenance.check(tmp_path, repair=True)
    assert maintenance.check(tmp_path) == [] and list(Store(tmp_path).timings()["record_id"]) == ["rec1"]
