"""The PDF renders from the small fixture, has every section, page numbers and a sane length."""

from __future__ import annotations

import io
import re
import shutil
import subprocess

import pytest
from fixtures.report.make_fixture import small

from bench.report import build, commands, pdf_layout
from bench.report.load import read

pypdf = pytest.importorskip("pypdf")
SECTIONS = ("Contents", "Overview", "Q1(a): ResNets over the hyperparameter grid",
            "Training curves, factors and confusion matrices", "Q1(b): support vector machines",
            "Q2: CPU against GPU", "All runs", "Methodology and environment", "Downloads")


@pytest.fixture(scope="module")
def pdf_path(tmp_path_factory):
    root = tmp_path_factory.mktemp("pdf")
    written = build(small(root / "store"), root / "site", pdf=True)
    path = root / "site" / "report.pdf"
    assert path in written
    return path


@pytest.fixture(scope="module")
def pdf(pdf_path):
    return pypdf.PdfReader(io.BytesIO(pdf_path.read_bytes()))


def _titles(outline) -> list[str]:
    out = []
    for item in outline:
        out += _titles(item) if isinstance(item, list) else [item.title]
    return out


def test_pdf_has_every_section_in_order(pdf):
    """weasyprint turns headings into bookmarks: the sections must all be there, in order."""
    titles = [t for t in _titles(pdf.outline) if t in SECTIONS]
    assert titles == list(SECTIONS)
    text = " ".join(" ".join(page.extract_text() for page in pdf.pages).split())
    assert "Best ResNet and best SVM per dataset (each chosen on validation accuracy among its kind)" in text


def test_pdf_pages_numbered_and_headed(pdf):
    n = len(pdf.pages)
    assert 8 <= n <= 30
    last = " ".join(pdf.pages[-1].extract_text().split())
    assert f"page {n} of {n}" in last
    assert "bench report" in " ".join(pdf.pages[3].extract_text().split())  # running header


def test_pdf_states_pending_gpu_rows_and_commands(pdf):
    flat = " ".join(" ".join(page.extract_text() for page in pdf.pages).split())
    assert "CUDA rows are pending" in flat
    assert "bench run --preset q2" in flat and "--device cuda" in flat


def _word_boxes(pdf_path) -> list[tuple[float, float, list[tuple[float, float]]]]:
    """Per page: its width, height and the right and bottom edge of every word (poppler's pdftotext)."""
    if shutil.which("pdftotext") is None:
        pytest.skip("needs poppler's pdftotext for word positions (apt-get install poppler-utils)")
    boxes = subprocess.run(["pdftotext", "-bbox", str(pdf_path), "-"], capture_output=True, text=True,
                           check=True).stdout
    size = r'width="([\d.]+)" height="([\d.]+)"'
    edges = r'xMax="([\d.]+)" yMax="([\d.]+)"'
    return [(*map(float, re.search(size, page).groups()), [tuple(map(float, e)) for e in re.findall(edges, page)])
            for page in boxes.split("<page ")[1:]]


def test_pdf_has_no_raw_dumps_and_nothing_runs_off_the_page(pdf_path):
    """The PDF states results; the table of all runs and every reproduce command stay on the site.
    No word ends beyond the right edge of its page (a table wider than the page is cut there)."""
    reader = pypdf.PdfReader(io.BytesIO(pdf_path.read_bytes()))
    flat = " ".join(" ".join(page.extract_text() for page in reader.pages).split())
    study = commands.study(read(pdf_path.parents[1] / "store").runs)
    # one command per preset and scale, and the pending-GPU one, never one per run
    assert flat.count("bench run --preset") <= len(study) + 1 < len(read(pdf_path.parents[1] / "store").runs)
    assert "one page per run" in flat
    pages = _word_boxes(pdf_path)
    assert len(pages) == len(reader.pages)
    for number, (width, _, words) in enumerate(pages, 1):
        ends = [right for right, _ in words]
        assert not ends or max(ends) <= width, (number, max(ends), width)


def test_the_answers_share_the_page_of_the_scale_banner(pdf):
    """The summary opens the report: the scale banner alone on a page would waste it."""
    pages = [" ".join(page.extract_text().split()) for page in pdf.pages]
    banner = next(i for i, text in enumerate(pages) if "Train / test images per preset" in text)
    assert "The answers" in pages[banner] and "Q1(a): the best ResNet, and what matters" in pages[banner]




def test_no_page_is_mostly_blank_unless_the_next_turns_sideways(pdf_path):
    """Sections follow on from each other; only a change of orientation (the wide tables' landscape
    pages) starts a fresh page, and figures are short enough that two fit a page, so one that moves
    to the next page leaves at most 40 % of its page blank. The title page, the contents and the
    last page may be short."""
    pages = _word_boxes(pdf_path)
    footer = 18 / 25.4 * 72  # the bottom margin, where the page number is
    for number, (width, height, words) in enumerate(pages[:-1], 1):
        if number <= 2 or (width > height) != (pages[number][0] > pages[number][1]):
            continue
        content = max((bottom for _, bottom in words if bottom < height - footer), default=0.0)
        assert content >= 0.6 * height, f"page {number} ends at {content / height:.0%} of its height"


def test_every_figure_prints_at_its_size_with_no_text_below_the_minimum(pdf_path):
    """A figure no wider than the PDF's text width is never shrunk there, so its text prints at the
    size it has: at least MIN_FONT_PT (tick labels, legends, cell values)."""
    from bench.report.plotting import MIN_FONT_PT, PRINT_WIDTH_IN

    figures = sorted((pdf_path.parent / "figures").glob("*.svg"))
    assert figures
    for path in figures:
        text = path.read_text()
        width = float(re.search(r'<svg[^>]* width="([\d.]+)pt"', text).group(1))
        assert width <= PRINT_WIDTH_IN * 72 + 0.5, (path.name, width)
        sizes = [float(s) for s in re.findall(r"font-size: ?([\d.]+)px", text)]
        assert sizes and min(sizes) >= MIN_FONT_PT, (path.name, sorted(set(sizes))[:3])


@pytest.fixture(scope="module")
def large_layout(tmp_path_factory):
    """The large fixture's PDF as weasyprint lays it out: its tables run over pages."""
    from fixtures.report.make_fixture import large

    return pdf_layout(large(tmp_path_factory.mktemp("large") / "store"))


def _boxes(box):
    yield box
    for child in getattr(box, "children", None) or []:
        yield from _boxes(child)


def _section_titles(root) -> dict:
    """Each table element of the document -> the title (h2) of the section it belongs to."""
    parent = {child: node for node in root.iter() for child in node}
    titles = {}
    for table in root.iter("table"):
        node = table
        while node.tag != "section":
            node = parent[node]
        titles[table] = " ".join("".join(node.find("h2").itertext()).split())
    return titles


def test_a_table_that_breaks_goes_on_under_its_header_and_its_own_section(large_layout):
    """A table longer than what is left of a page goes on, on every page it reaches, under its
    header row, with rows of its own under that header, and under its own section's running header
    (not the next section's); tables without a header row (key-value lists) never break."""
    from weasyprint.formatting_structure import boxes

    pieces: dict = {}  # table element -> [(page, has its header, body rows, running header)]
    for number, page in enumerate(large_layout.pages, 1):
        running = " ".join(t.text for margin in page._page_box.children if isinstance(margin, boxes.MarginBox)
                           and margin.at_keyword == "@top-left" for t in _boxes(margin) if isinstance(t, boxes.TextBox))
        for box in _boxes(page._page_box):
            if isinstance(box, boxes.TableBox):
                groups = [g for g in box.children if isinstance(g, boxes.TableRowGroupBox)]
                rows = sum(len(g.children) for g in groups if not (g.is_header or g.is_footer))
                pieces.setdefault(box.element, []).append((number, any(g.is_header for g in groups), rows, running))
    titles = _section_titles(large_layout.pages[0]._page_box.children[0].element)
    broken = {table: parts for table, parts in pieces.items() if len(parts) > 1}
    assert len(broken) >= 3, "the large fixture's long tables no longer run over a page: the check checks nothing"
    for table, parts in broken.items():
        assert table.find("thead") is not None, (titles[table], [number for number, *_ in parts])
        for number, header, rows, _ in parts:
            assert header and rows > 0, (titles[table], number, header, rows)
        for number, _, _, running in parts[1:]:
            assert running == titles[table], (number, running, titles[table])

