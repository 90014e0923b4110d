"""The committed study's report tells its state once and truly: the cover, the overview and the
banner count the same planned, done and pending cells (`report.progress.account`); with every CPU cell
stored they say the CPU study is complete; and pending cells (the latest Q1(a) run withheld) are drawn
as pending in the Q1(a) tables and heatmaps, never blank and never highlighted as best."""

from __future__ import annotations

import dataclasses
import html
import re

import pytest
from committed import Q1A_DONE_AT_LEAST, preset_cells

from bench.report import figures, load, render, view


def _text(markup: str) -> str:
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", markup)))


def _q2_cells(device: str) -> int:
    return sum(c.spec.device == device for c in preset_cells("q2"))


def _rendered(study: load.Study) -> tuple[dict, dict[str, str]]:
    model = view.build(study)
    model.update(repository="", has_pdf=True)
    files, model["figures"] = figures.render(model)
    env = render.environment()
    pages = {**render.site(model, env), "report.html": env.get_template("report.html").render(v=model, root="",
                                                                                               pdf=True)}
    return model, {**pages, **{k: v.decode() for k, v in files.items() if k.endswith(".svg")}}


@pytest.fixture(scope="module")
def committed(committed_store) -> tuple[dict, dict[str, str]]:
    return _rendered(load.read(committed_store))


@pytest.fixture(scope="module")
def latest_run_withheld(committed_store) -> tuple[list[dict], tuple[dict, dict[str, str]]]:
    """The committed study less its latest Q1(a) training run (every cell it stored): what the report
    showed while the campaign still computed it."""
    study = load.read(committed_store)
    q1a = [r for r in study.runs if r["preset"] == "q1a"]
    latest = max(q1a, key=lambda r: r["finished_at"])
    same = ("dataset", "model", "optimizer", "lr", "batch_size")
    withheld = [r for r in q1a if all(r[k] == latest[k] for k in same)]
    gone = {r["run_id"] for r in withheld}
    kept = [r for r in study.runs if r["run_id"] not in gone]
    return withheld, _rendered(dataclasses.replace(study, runs=kept))


def test_one_count_of_the_study_on_the_cover_the_overview_and_the_banner(committed):
    model, pages = committed
    q1a = next(p for p in model["state"] if p["preset"] == "q1a")
    q2 = next(p for p in model["state"] if p["preset"] == "q2")
    cells = len(preset_cells("q1a"))
    cpu, cuda = _q2_cells("cpu"), _q2_cells("cuda")
    assert q1a["cells"] == cells and q1a["cells_done"] + q1a["pending"] == cells
    assert q1a["cells_done"] >= Q1A_DONE_AT_LEAST
    assert [(d["device"], d["cells"]) for d in q2["devices"]] == [("cpu", cpu), ("cuda", cuda)]
    cover = _text(pages["report.html"].split('<nav class="toc">')[0])
    assert f"q1a {q1a['cells_done']} of {cells} cells done" in cover
    q2_cells = f"q2 {cpu} of {cpu + cuda} cells done: cpu {cpu} of {cpu}, cuda 0 of {cuda}"
    assert f"{q2_cells}. Pending: {cuda} q2 cuda cells." in cover  # what is pending, by preset and device
    state_table = _text(pages["index.html"]).split("The study's state", 1)[1].split("What was run", 1)[0]
    assert f"q1a Q1(a) cpu {cells} {q1a['cells_done']} {q1a['pending']}" in state_table
    assert f"q2 Q2 cuda {cuda} 0 {cuda} bench run --preset q2 --device cuda" in state_table
    assert f"Pending cells of the study ({q1a['pending'] + cuda})" in pages["runs.html"]  # the all-runs page lists them


def test_the_cover_and_the_banner_say_the_cpu_study_is_complete_and_list_only_the_cuda_cells(committed):
    """Every CPU cell of the study is stored: the banner says so and names the CUDA cells as all that is
    pending, the cover says so once, no preset but q2 keeps a banner line, no Q1(a) cell is pending."""
    model, pages = committed
    cpu = sum(d["cells"] for p in model["state"] for d in p["devices"] if d["device"] == "cpu")
    cuda = _q2_cells("cuda")
    said = f"The CPU study is complete: all {cpu} of its cells are stored"
    banner = _text(pages["index.html"]).split("The answers", 1)[1].split("The study's state", 1)[0]
    assert f"{said}; pending: {cuda} q2 cuda cells only." in banner
    assert re.findall(r"(\w+): \d+ of \d+ training runs done", banner) == ["q2"]
    cover = _text(pages["report.html"].split('<nav class="toc">')[0])
    assert f"{said}." in cover and "only" not in cover  # the line above it lists what is pending
    assert not any(c["pending"] for t in model["q1a"] for r in t["rows"] for c in r["cells"] if c)
    assert "not computed yet" not in pages["index.html"]  # no table explains a marker it does not show
    assert "pending" not in " ".join(t for name, t in pages.items() if name.startswith("figures/heatmap-q1a"))


def test_pending_cells_are_labelled_in_the_tables_and_heatmaps_and_never_best(latest_run_withheld):
    withheld, (model, pages) = latest_run_withheld
    todo = {(c["dataset"], c["batch_size"], c["optimizer"], c["lr"], c["label"], c["epochs"])
            for p in model["state"] if p["preset"] == "q1a" for c in p["todo"]}
    assert next(p for p in model["state"] if p["preset"] == "q1a")["pending"] == len(withheld) > 0
    shown = [c for t in model["q1a"] for r in t["rows"] for c in r["cells"] if c and c["pending"]]
    assert len(shown) == len(todo) > 0 and not any(c["best"] for c in shown)
    assert all(c is not None for t in model["q1a"] for r in t["rows"] for c in r["cells"])  # no blank cell
    assert _text(pages["index.html"]).count(" pending ") >= len(todo)
    assert re.search(r"q1a: \d+ of \d+ training runs done .* Computes the rest: bench run --preset q1a",
                     _text(pages["index.html"]))  # its banner line
    assert "“pending”: a cell of the study not computed yet" in _text(pages["index.html"])  # the caption
    heatmaps = [name for name in pages if name.startswith("figures/heatmap-q1a")]
    assert heatmaps and sum(pages[name].count("pending") for name in heatmaps) >= len(todo)


def test_one_answer_per_question_on_the_first_screen_with_linked_numbers(committed):
    model, pages = committed
    page = pages["index.html"]
    answers = page.split('<div class="keyresults answers">', 1)[1].split('<section id="overview">', 1)[0]
    for question in ("q1a", "q1b", "q2"):
        box = answers.split(f'id="answer-{question}"', 1)[1].split('<div class="answer"', 1)[0]
        assert 'href="runs/' in box, question  # its numbers link to their runs
    q1a = _text(answers.split('id="answer-q1a"', 1)[1].split('id="answer-q1b"', 1)[0])
    assert "fashion : resnet18, adam" in q1a and "mnist : resnet18, adam" in q1a and "learning rate: lr 0.001" in q1a
    # 5 against 10 epochs of one run is flagged wherever it is shown: in the answer when it is among the
    # largest effects (chunk 10's ResNet-50 pairs moved depth ahead of it), always in the findings
    assert "nested, not independent" in q1a or " epochs over " not in q1a
    assert 'title="nested, not independent' in page.split('<section id="overview">', 1)[1]
    q2 = _text(answers.split('id="answer-q2"', 1)[1])
    assert "resnet50" in q2 and f"Pending: {_q2_cells('cuda')} cuda cells" in q2 and "make gpu-session" in q2
    assert page.index("The answers") < page.index("<h2>Overview</h2>")


def test_the_pdf_tells_the_environments_in_one_table_with_a_commit_column(committed):
    """Six near-identical environment tables once took 2.5 pages of the PDF: one table now, what all
    runs share once above it and a column for each field that differs, the commit among them."""
    _, pages = committed
    tables = re.findall(r"<table>\s*<caption>Each environment the runs were computed in.*?</table>",
                        pages["report.html"], re.S)
    assert len(tables) == 1
    header = re.findall(r"<th[^>]*>([^<]*)</th>", re.search(r"<thead>(.*?)</thead>", tables[0], re.S).group(1))
    assert "git_commit" in header and tables[0].count("<tr>") - 1 >= 2, header
