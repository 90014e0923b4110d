"""A study of one's own presets is reported by preset: sections by kind of row, named by the presets'
file names, without the assignment's questions (the committed study's state: checks/)."""

from __future__ import annotations

import html
import re


def _text(markup: str) -> str:
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", markup)))


def test_a_study_of_ones_own_presets_gets_their_sections_named_by_preset(tmp_path):
    """Two presets of one's own (a ResNet grid and an SVM grid, given as files): a section for each
    kind of row the store holds, titled without the assignment's questions, no CPU-against-GPU
    section, and each preset named by its file's name, not its path."""
    import csv

    from fixtures.report.make_fixture import small

    from bench.report import build_files

    root = small(tmp_path / "store")
    resnets, svms = tmp_path / "presets" / "my-grid.toml", tmp_path / "presets" / "my-svms.toml"
    path = root / "runs.csv"
    with path.open(newline="") as f:
        rows = list(csv.DictReader(f))
    kept = [{**r, "preset": str(resnets if r["kind"] == "resnet" else svms)} for r in rows if r["preset"] != "q2"]
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(kept)
    index = build_files(root, pdf=False)["index.html"]
    nav = index.split('<nav class="sections"', 1)[1].split("</nav>", 1)[0]
    assert [_text(a).strip() for a in re.findall(r"<a [^>]*>[^<]*</a>", nav)] == [
        "Overview", "ResNets", "Figures", "SVMs", "All runs", "Methodology", "Downloads"]
    assert 'id="q2"' not in index and "Q1(a)" not in _text(index.split('<section id="q1a">')[1][:200])
    shown = _text(index.split('<section id="runs">')[0])
    assert "my-grid · mnist" in shown and str(resnets) not in shown.split("Reproduce the study")[0]
