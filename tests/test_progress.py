"""The full-scale banner counts what `bench plan` would: training runs and cells of each study
preset at full scale that are stored, and names the rest with the command that computes them."""

from __future__ import annotations

from bench import plan, presets
from bench.report import progress


def _full(name: str) -> list[plan.Cell]:
    return plan.cells_of(presets.expand(presets.load_preset(name), progress.FULL_SCALE))


def test_counts_whole_training_runs_and_lists_the_rest():
    groups = plan.groups_of(_full("q1a"))
    stored = [{"run_id": c.run_id, "status": "done"} for g in groups[:3] for c in g]
    stored += [{"run_id": groups[3][0].run_id, "status": "done"}]  # one cell of a fourth run: not a whole run
    stored += [{"run_id": groups[4][0].run_id, "status": "error"}]
    stored += [{"run_id": c.run_id, "status": "done"} for c in
               plan.cells_of(presets.expand(presets.load_preset("q1a"), {"test_size": 2000}))]  # reduced scale
    q1a, q1b, q2 = progress.build(stored)  # once a campaign has begun, every unfinished study preset
    assert (q1b["cells_done"], q2["cells_done"]) == (0, 0)
    assert q2["after"] == ["q1a"] and q1a["after"] == q1b["after"] == []  # q2's resnet18/50 cells are q1a cells
    assert (q1a["preset"], q1a["runs_done"], q1a["runs"], q1a["cells"]) == ("q1a", 3, 32, 128)
    assert q1a["cells_done"] == 3 * 4 + 1
    assert q1a["command"].startswith("bench run --preset q1a --test-size 0")
    assert q1a["remaining"][0] == "mnist resnet18: 5" and sum(int(x.split(": ")[1]) for x in q1a["remaining"]) == 29
    assert q1a["listing"] == "bench plan --preset q1a --test-size 0"


def test_nothing_at_full_scale_and_a_finished_preset_need_no_line():
    """No full-scale run stored: no banner; a finished preset: no line of its own."""
    assert progress.build([]) == []
    assert [p["preset"] for p in progress.build([{"run_id": c.run_id, "status": "done"}
                                                 for c in _full("q1b")])] == ["q1a", "q2"]
    q2 = progress.build([{"run_id": _full("q2")[0].run_id, "status": "done"}])[-1]
    assert q2["speed"].startswith("bench time --preset q2")  # a preset of paired speeds says how to time them


def _row(preset: str, subset: int, test_size: int, status: str = "done") -> dict:
    return {"run_id": f"{preset}-{subset}-{test_size}", "status": status, "preset": preset, "subset": subset,
            "test_size": test_size}


def test_the_stage_says_whether_the_study_rows_are_at_full_scale_reduced_or_both():
    full, reduced = _row("q1a", 0, 0), _row("q1b", 1000, 2000)
    assert progress.stage([full, _row("q1b", 0, 0)]) == "full"
    assert progress.stage([full, reduced]) == "mixed"
    assert progress.stage([reduced]) == progress.stage([]) == "reduced"
    # rows outside the study (a reference, a smoke test) and unfinished ones do not count
    assert progress.stage([full, _row("reference", 0, 2000), _row("smoke", 100, 100), _row("q2", 10, 10, "error")]) \
        == "full"
