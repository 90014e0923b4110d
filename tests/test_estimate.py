"""`bench plan --step-table`: a step experiment's CSV becomes an estimate per technique for any
preset, on a machine without the table's device; the step experiment's own table uses it."""

import csv
import dataclasses
import subprocess
import sys

import pytest
from click.testing import CliRunner

from bench import estimate, plan, presets
from bench.cli import main
from bench.data import val_size

GRID = """
[[grid]]
kind = "resnet"
dataset = "mnist"
model = ["resnet18", "resnet34"]
optimizer = "adam"
lr = 1e-3
batch_size = 16
epochs = [1, 2]
pin_memory = [true, false]
device = "cuda"
subset = 1000
test_size = 200
"""
COLUMNS = ["device", "model", "batch", "technique", "ms_per_step", "threads", "torch"]


def write_table(path, rows):
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(COLUMNS)
        writer.writerows(rows)
    return path


@pytest.fixture
def preset(tmp_path):
    path = tmp_path / "grid.toml"
    path.write_text(GRID)
    return path


@pytest.fixture
def table(tmp_path):
    return write_table(tmp_path / "step-cuda.csv", [
        ["cuda", "resnet18", 16, "eager", 10.0, 16, "2.11.0"],
        ["cuda", "resnet18", 16, "graph", 2.0, 16, "2.11.0"],
        ["cuda", "resnet18", 32, "eager", 99.0, 16, "2.11.0"],  # another batch size: not used
    ])


def test_the_estimate_scales_the_tables_rate_by_the_images_of_each_shared_run(preset, table):
    cells = plan.cells_of(presets.load(str(preset)).specs())  # CUDA cells, no GPU here
    about, rows = estimate.by_technique(cells, table)
    assert about == {"device": "cuda", "device_name": "?", "threads": "16", "torch": "2.11.0"}
    by_name = {technique: (secs, covered, runs) for technique, secs, covered, runs in rows}
    # pin_memory is one computation on CUDA too: 1 run per model, serving its 1- and 2-epoch cells
    # of both pin_memory values; resnet34 is not in the table, so only resnet18's run is covered
    assert by_name["eager"][1:] == (1, 2) and by_name["graph"][1:] == (1, 2)
    per_image = 0.010 / 16
    one_run = per_image * (2 * (1000 + val_size(1000, plan.VAL_PART) / 3) + 2 * 200 / 3)
    assert by_name["eager"][0] == pytest.approx(one_run)
    assert by_name["graph"][0] == pytest.approx(by_name["eager"][0] / 5)


def test_plan_prints_each_technique_and_what_the_table_does_not_cover(preset, table):
    result = CliRunner().invoke(main, ["plan", "--preset", str(preset), "--no-estimate", "--step-table", str(table),
                                       "--store", "/nonexistent"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("from the step table"))
    assert "(cuda: ?, 16 threads, torch 2.11.0)" in lines[start]
    assert [line.split()[0] for line in lines[start + 1:]] == ["eager", "graph"]
    assert all(line.endswith("(1 of 2 runs covered)") for line in lines[start + 1:])

    cpu = CliRunner().invoke(main, ["plan", "--preset", str(preset), "--device", "cpu", "--no-estimate",
                                    "--step-table", str(table), "--store", "/nonexistent"])
    assert cpu.exit_code == 0 and cpu.output.splitlines()[-1].endswith("the ResNet runs to do on cuda: none")


@pytest.mark.parametrize("rows, message", [
    ([["cuda", "resnet18", 16, "eager", "fast", 1, "x"]], "line 2: batch and ms_per_step must be numbers"),
    ([["cuda", "resnet18", 16, "eager", -1, 1, "x"]], "line 2: batch and ms_per_step must be positive"),
    ([["cuda", "resnet18", 16, "eager", 1, 1, "x"], ["cpu", "resnet18", 16, "eager", 1, 1, "x"]],
     "rows must all be of one device"),
    ([], "no rows under its header"),
    ([["cuda", "resnet18", 16, "eager", 68, 1, "x"], ["cuda", "resnet18", 16, "eager", 1, 1, "x"]],
     "line 3: a second row for eager, resnet18, batch 16"),
    ([["cuda", "resnet18", 16, " ", 1, 1, "x"]], "line 2: technique and model must not be empty"),
])
def test_a_bad_step_table_is_one_line_and_exit_1(tmp_path, preset, rows, message):
    table = write_table(tmp_path / "bad.csv", rows)
    result = CliRunner().invoke(main, ["plan", "--preset", str(preset), "--no-estimate", "--step-table", str(table),
                                       "--store", "/nonexistent"])
    assert result.exit_code == 1
    assert message in result.output and "Traceback" not in result.output


def test_the_step_experiments_table_is_bench_plans_estimate(tmp_path):
    """benchmarks/step.py --from-csv renders its README table with bench plan's numbers."""
    rows = [["cpu", m, b, t, 10.0 * (1 + (t == "fused4")), 2, "2.14.1"]
            for m in ("resnet18", "resnet32", "resnet50") for b in (16, 32) for t in ("eager", "fused4")]
    table = write_table(tmp_path / "step-cpu.csv", rows)
    out = subprocess.run([sys.executable, "benchmarks/step.py", "--from-csv", str(table), "--out", str(tmp_path)],
                         capture_output=True, text=True, check=True).stdout
    cells = plan.cells_of(presets.load("q1a").specs({"subset": 0, "device": "cpu"}))
    minutes = {t: secs / 60 for t, secs, _, _ in estimate.by_technique(cells, table)[1]}
    assert f"| eager | {minutes['eager']:,.0f} |" in out
    assert f"| fused4 | {minutes['fused4']:,.0f} |" in out
    assert minutes["fused4"] == pytest.approx(2 * minutes["eager"])


def test_a_spreadsheets_byte_order_mark_is_read_and_no_coverage_is_not_zero_minutes(tmp_path, preset):
    table = tmp_path / "bom.csv"
    table.write_bytes(b"\xef\xbb\xbf" + b"device,model,batch,technique,ms_per_step\ncuda,ResNet18,16,eager,10\n")
    result = CliRunner().invoke(main, ["plan", "--preset", str(preset), "--no-estimate", "--step-table", str(table),
                                       "--store", "/nonexistent"])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[-1].split() == ["eager", "no", "run", "covered:", "the", "table", "has", "none",
                                                      "of", "these", "models", "and", "batch", "sizes", "(fp32)"]


@pytest.mark.parametrize("text", ["device,model,batch,technique,ms_per_step\n",
                                  "device,model,batch,technique,ms_per_step\ncpu,resnet18,16,eager\n"])
def test_the_step_experiment_refuses_a_bad_saved_table_in_one_line(tmp_path, text):
    table = tmp_path / "bad.csv"
    table.write_text(text)
    out = subprocess.run([sys.executable, "benchmarks/step.py", "--from-csv", str(table), "--out", str(tmp_path)],
                         capture_output=True, text=True)
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert out.stderr.strip().splitlines()[-1].startswith("step.py: error: step table")


def test_a_partial_saved_table_renders_with_its_coverage(tmp_path):
    table = write_table(tmp_path / "one.csv", [["cpu", "resnet18", 16, "eager", 10.0, 2, "x"]])
    out = subprocess.run([sys.executable, "benchmarks/step.py", "--from-csv", str(table), "--out", str(tmp_path)],
                         capture_output=True, text=True, check=True).stdout
    assert "| resnet50 | 32 | – |" in out and "(8 of 32 runs covered) |" in out


def test_plan_announces_its_calibration_caches_it_and_says_when_it_was_measured_under_load(tmp_path, monkeypatch):
    """Only the shapes of the runs to do are calibrated, once per machine, announced before they
    start; a calibration beside other work is flagged; the estimate is wall time for the workers."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("BENCH_THREADS", "2")
    measured = []
    monkeypatch.setattr(estimate, "_calibrate", lambda spec: measured.append(spec.label) or 1e-3)
    busy = iter(range(0, 1000, 3))  # others use a core's worth of CPU while each shape is timed
    monkeypatch.setattr("bench.env.cpu_seconds_busy", lambda: float(next(busy)))
    monkeypatch.setattr("bench.estimate.time.perf_counter", lambda: float(next(busy)))

    def plan_q1a(*extra: str):
        result = CliRunner().invoke(main, ["plan", "--preset", "q1a", "--models", "resnet50", "--workers", "1",
                                           "--store", str(tmp_path / "none"), *extra])
        assert result.exit_code == 0, result.output
        return result

    first = plan_q1a()
    assert first.stderr.splitlines()[0].startswith("calibrating 4 training shapes at 2 threads (a few seconds each, "
                                                   "once per machine: cached in ")
    assert "--no-estimate skips it" in first.stderr and measured == ["resnet50"] * 4
    summary = first.stdout.splitlines()[-1]
    resnet50 = [c for c in plan.cells_of(presets.load("q1a").specs()) if c.spec.model == "resnet50"]
    n, runs = len(resnet50), len(plan.groups_of(resnet50))
    assert summary.startswith(f"{n} cells, 0 done, {n} to run ({runs} training runs), estimated ")
    assert summary.endswith(" of wall time with 1 worker of 2 threads")
    assert "was calibrated under load" in first.stderr and "`bench plan --recalibrate`" in first.stderr
    second = plan_q1a()
    assert "calibrating" not in second.stderr and len(measured) == 4 and second.stdout == first.stdout
    plan_q1a("--recalibrate")
    assert len(measured) == 8


def test_q1b_is_estimated_with_its_predictions_near_what_it_took():
    """An SVM's estimate counts its fit and its predictions on the validation and test splits: q1b's
    48 SVMs at full scale ran 44 min 52 s alone on one core (benchmarks/README.md, "q1b timed alone");
    fit alone, the estimate said 20 min."""
    cells = plan.cells_of(presets.load("q1b").specs())
    seconds = estimate.seconds(cells)
    assert len(seconds) == 48
    assert 0.8 * 2692 < sum(seconds.values()) < 1.25 * 2692
    spec = cells[0].spec
    fit = estimate.SVM_SECONDS_PER_PAIR * spec.n_train ** 2
    fewer_tested = estimate.svm_seconds(dataclasses.replace(spec, test_size=2000))
    assert fit < fewer_tested < estimate.svm_seconds(spec)
