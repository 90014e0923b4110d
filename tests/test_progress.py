"""The study's banner counts what `bench plan --preset P` with no options would: training runs and
cells of each study preset, at the scale the preset states, that are stored, and names the rest with
the command that computes them."""

from __future__ import annotations

from bench import plan, presets
from bench.report import progress


def _full(name: str) -> list[plan.Cell]:
    return plan.cells_of(presets.load(name).specs())


def _count(name: str, device: str) -> int:
    return sum(c.spec.device == device for c in _full(name))


def test_counts_whole_training_runs_and_lists_the_rest():
    groups = plan.groups_of(_full("q1a"))
    stored = [{"run_id": c.run_id, "status": "done"} for g in groups[:3] for c in g]
    stored += [{"run_id": groups[3][0].run_id, "status": "done"}]  # one cell of a fourth run: not a whole run
    stored += [{"run_id": groups[4][0].run_id, "status": "error"}]
    stored += [{"run_id": c.run_id, "status": "done"} for c in
               plan.cells_of(presets.load("q1a").specs({"test_size": 2000}))]  # reduced scale
    q1a, q1b, q2 = progress.banner(progress.account(stored))  # once a campaign has begun, every unfinished preset
    assert (q1b["cells_done"], q2["cells_done"]) == (0, 0)
    assert q2["after"] == ["q1a"] and q1a["after"] == q1b["after"] == []  # q2's resnet18/50 cells are q1a cells
    assert (q1a["preset"], q1a["runs_done"], q1a["runs"], q1a["cells"]) == ("q1a", 3, len(groups), len(_full("q1a")))
    assert q1a["cells_done"] == sum(len(g) for g in groups[:3]) + 1
    assert q1a["commands"] == ["bench run --preset q1a --budget 2h30m"]  # the preset states the scale
    # q2 plans both devices: a command per device with cells to compute
    assert q2["commands"] == ["bench run --preset q2 --device cpu --budget 2h30m",
                              "bench run --preset q2 --device cuda --budget 2h30m"]
    assert [(d["device"], d["cells"], d["pending"]) for d in q2["devices"]] == [
        (d, _count("q2", d), _count("q2", d)) for d in ("cpu", "cuda")]
    assert q1a["scale"] == "all 49,000 training images, all 14,000 test images, 1 seed, cpu"
    first = groups[0][0].spec
    left = sum((g[0].spec.dataset, g[0].spec.model) == (first.dataset, first.model) for g in groups[3:])
    assert q1a["remaining"][0] == f"{first.dataset} {first.model}: {left}"
    assert sum(int(x.split(": ")[1]) for x in q1a["remaining"]) == len(groups) - 3
    assert q1a["listing"] == "bench plan --preset q1a"


def test_nothing_at_full_scale_and_a_finished_preset_need_no_line():
    """No full-scale run stored: no banner; a finished preset: no line of its own."""
    assert progress.banner(progress.account([])) == []
    state = progress.account([{"run_id": c.run_id, "status": "done"} for c in _full("q1b")])
    assert [p["preset"] for p in progress.banner(state)] == ["q1a", "q2"]
    assert progress.pending(state) == [
        {"preset": "q1a", "device": "cpu", "cells": _count("q1a", "cpu"),
         "command": "bench run --preset q1a --budget 2h30m"},
        {"preset": "q2", "device": "cpu", "cells": _count("q2", "cpu"),
         "command": "bench run --preset q2 --device cpu --budget 2h30m"},
        {"preset": "q2", "device": "cuda", "cells": _count("q2", "cuda"),
         "command": "bench run --preset q2 --device cuda --budget 2h30m"}]
    q2 = progress.banner(progress.account([{"run_id": _full("q2")[0].run_id, "status": "done"}]))[-1]
    assert q2["speed"].startswith("bench time --preset q2")  # a preset of paired speeds says how to time them


def _row(preset: str, run_id: str, status: str = "done") -> dict:
    return {"run_id": run_id, "status": status, "preset": preset}


def test_the_stage_says_whether_the_study_rows_are_cells_of_their_presets_as_they_stand():
    study, other = _row("q1a", _full("q1a")[0].run_id), _row("q1b", "a-q1b-cell-at-another-scale")
    assert progress.stage([study, _row("q1b", _full("q1b")[0].run_id)]) == "study"
    assert progress.stage([study, other]) == "mixed"
    assert progress.stage([other]) == progress.stage([]) == "other"
    # rows outside the study (a reference, a smoke test) and unfinished ones do not count
    assert progress.stage([study, _row("reference", "r"), _row("smoke", "s"), _row("q2", "x", "error")]) == "study"


def test_the_study_is_defined_by_its_presets_not_by_a_constant_of_the_report():
    """Every study preset states the committed study's scale; the report describes what they state."""
    for name in presets.study():
        specs = [c.spec for c in _full(name)]
        assert {(s.subset, s.test_size, s.seed) for s in specs} == {(0, 0, 0)}, name
    assert progress.stated() == ("q1a all 49,000 training images, all 14,000 test images, 1 seed, cpu; "
                                 "q1b 10,000 training images, all 14,000 test images, 1 seed, cpu; "
                                 "q2 all 49,000 training images, all 14,000 test images, 1 seed, cpu+cuda")


def _cells_on(device: str) -> list[dict]:
    return [{"run_id": c.run_id, "status": "done"} for name in presets.study() for c in _full(name)
            if c.spec.compute_device == device]


def test_a_device_is_complete_once_every_study_cell_on_it_is_done():
    cpu = _cells_on("cpu")
    state = progress.account(cpu)
    assert progress.complete(state) == [{"device": "cpu", "cells": len(cpu)}]
    assert [(x["preset"], x["device"]) for x in progress.pending(state)] == [("q2", "cuda")]
    assert progress.complete(progress.account(cpu[1:])) == []  # one CPU cell short
    assert progress.complete(progress.account([])) == []  # nothing begun: nothing to call complete
    every = progress.account(cpu + _cells_on("cuda"))
    assert [d["device"] for d in progress.complete(every)] == ["cpu", "cuda"] and progress.pending(every) == []


def test_the_cover_and_the_banner_say_the_cpu_study_is_complete_and_list_only_the_cuda_cells(tmp_path, monkeypatch):
    """With every CPU cell stored (the account of such a store, given to the report of the small
    fixture), the site's banner and the PDF's cover say the CPU study is complete and name the CUDA
    cells as all that is pending (the cover in the line above, not again)."""
    import io

    import pypdf
    from fixtures.report.make_fixture import small

    from bench.report import build_files
    from tests.test_report_state import _text

    state = progress.account(_cells_on("cpu"))
    monkeypatch.setattr(progress, "account", lambda runs: state)
    monkeypatch.setattr(progress, "stage", lambda runs: "study")
    files = build_files(small(tmp_path / "store"), pdf=True)
    cuda = sum(c.spec.compute_device == "cuda" for c in _full("q2"))
    said = f"The CPU study is complete: all {len(_cells_on('cpu'))} of its cells are stored"
    assert f"{said}; pending: {cuda} q2 cuda cells only." in _text(files["index.html"]).split("The answers")[1]
    cover = " ".join(pypdf.PdfReader(io.BytesIO(files["report.pdf"])).pages[0].extract_text().split())
    assert f"{said}." in cover and f"Pending: {cuda} q2 cuda cells." in cover and "only" not in cover  # said once
