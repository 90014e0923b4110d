"""The committed study's report tells its state once and truly: the cover, the overview and the
banner count the same planned, done and pending cells (`report.progress.account`), the pending cells
are drawn as pending in the Q1(a) tables and heatmaps, never blank and never highlighted as best."""

from __future__ import annotations

import html
import re

import pytest
from committed import Q1A_DONE_AT_LEAST, preset_cells

from bench import plan
from bench.report import figures, load, render, view


def _text(markup: str) -> str:
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", markup)))


def _q2_cells(device: str) -> int:
    return sum(c.spec.device == device for c in preset_cells("q2"))


@pytest.fixture(scope="module")
def committed(committed_store) -> tuple[dict, dict[str, str]]:
    model = view.build(load.read(committed_store))
    model.update(repository="", has_pdf=True)
    files, model["figures"] = figures.render(model)
    env = render.environment()
    pages = {**render.site(model, env), "report.html": env.get_template("report.html").render(v=model, root="",
                                                                                               pdf=True)}
    return model, {**pages, **{k: v.decode() for k, v in files.items() if k.endswith(".svg")}}


def test_one_count_of_the_study_on_the_cover_the_overview_and_the_banner(committed):
    model, pages = committed
    q1a = next(p for p in model["state"] if p["preset"] == "q1a")
    q2 = next(p for p in model["state"] if p["preset"] == "q2")
    cells, runs = len(preset_cells("q1a")), len(plan.groups_of(preset_cells("q1a")))
    cpu, cuda = _q2_cells("cpu"), _q2_cells("cuda")
    assert q1a["cells"] == cells and q1a["cells_done"] + q1a["pending"] == cells
    assert q1a["cells_done"] >= Q1A_DONE_AT_LEAST
    assert [(d["device"], d["cells"]) for d in q2["devices"]] == [("cpu", cpu), ("cuda", cuda)]
    said = f"q1a {q1a['cells_done']} of {cells} cells done"
    cover = _text(pages["report.html"].split('<nav class="toc">')[0])
    assert said in cover and f"q2 {cpu} of {cpu + cuda} cells done: cpu {cpu} of {cpu}, cuda 0 of {cuda}" in cover
    assert f"{cuda} q2 cuda cells" in cover  # what is pending, by preset and device
    index = _text(pages["index.html"])
    assert f"q1a: {q1a['runs_done']} of {runs} training runs done ({q1a['cells_done']} of {cells} cells done;" in index
    state_table = index.split("The study's state", 1)[1].split("What was run", 1)[0]
    assert f"q1a Q1(a) cpu {cells} {q1a['cells_done']} {q1a['pending']}" in state_table
    assert f"q2 Q2 cuda {cuda} 0 {cuda} bench run --preset q2 --device cuda" in state_table


def test_pending_cells_are_labelled_in_the_tables_and_heatmaps_and_never_best(committed):
    model, pages = committed
    todo = {(c["dataset"], c["batch_size"], c["optimizer"], c["lr"], c["label"], c["epochs"])
            for p in model["state"] if p["preset"] == "q1a" for c in p["todo"]}
    shown = [c for t in model["q1a"] for r in t["rows"] for c in r["cells"] if c and c["pending"]]
    assert len(shown) == len(todo) > 0 and not any(c["best"] for c in shown)
    assert all(c is not None for t in model["q1a"] for r in t["rows"] for c in r["cells"])  # no blank cell
    assert _text(pages["index.html"]).count(" pending ") >= len(todo)
    pending = sum(p["pending"] for p in model["state"])
    assert f"Pending cells of the study ({pending})" in pages["runs.html"]  # the all-runs page lists them
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
