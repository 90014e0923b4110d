"""timings.csv is a store file like the others: a torn last line is left out (and repaired), a
column from a future schema is refused, and a merge reports two different copies of one
measurement."""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from fixtures.report.make_fixture import small

from bench.cli import main
from bench.store import Store


def _timing(i: int, rate: float = 100.0) -> dict:
    return {"run_id": f"run{i}", "record_id": f"t{i}", "preset": "q2", "label": "resnet18", "dataset": "fashion",
            "device": "cpu", "batch_size": 16, "amp_dtype": "fp32", "steps": 5, "blocks": 3, "images_per_s": rate,
            "min_images_per_s": rate - 1, "max_images_per_s": rate + 1, "host_id": "h", "threads": 2,
            "concurrency": 1, "started_at": "2026-12-01T00:00:00+00:00"}


@pytest.fixture
def store(tmp_path):
    root = small(tmp_path / "store")
    Store(root).append_timings([_timing(1), _timing(2)])
    return root


def test_a_torn_last_timing_line_is_left_out_by_the_report_and_repaired(store, tmp_path):
    with (store / "timings.csv").open("a") as f:
        f.write("run3,t3,q2,resnet18,fash")
    report = CliRunner().invoke(main, ["report", "--store", str(store), "--out", str(tmp_path / "site"), "--no-pdf"])
    assert report.exit_code == 0, report.output
    assert "timings.csv ends with a torn line" in report.output
    assert len(Store(store).timings()) == 2
    assert CliRunner().invoke(main, ["store", "check", "--store", str(store), "--repair"]).exit_code == 0
    assert (store / "timings.csv").read_bytes().endswith(b"\n") and (store / "quarantine").is_dir()


def test_a_timing_column_from_a_future_schema_is_refused(store, tmp_path):
    lines = (store / "timings.csv").read_text().splitlines()
    (store / "timings.csv").write_text("\n".join([lines[0] + ",from_the_future", *(x + ",1" for x in lines[1:])])
                                       + "\n")
    report = CliRunner().invoke(main, ["report", "--store", str(store), "--out", str(tmp_path / "site"), "--no-pdf"])
    assert report.exit_code == 1 and "unknown from_the_future" in report.output and "Traceback" not in report.output
    with pytest.raises(Exception, match="bench store check"):
        Store(store).append_timings([_timing(4)])


def test_a_merge_reports_two_different_copies_of_one_timing(store, tmp_path):
    other = small(tmp_path / "other")
    Store(other).append_timings([_timing(1, rate=250.0)])  # the same measurement id, another value
    into = tmp_path / "merged"
    result = CliRunner().invoke(main, ["store", "merge", str(store), str(other), "--into", str(into)])
    assert result.exit_code == 0, result.output
    assert "timing t1 of run run1" in result.output and "100.0 vs 250.0" in result.output
    assert sorted(Store(into).timings()["record_id"]) == ["t1", "t2"]
