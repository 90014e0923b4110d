"""The PDF renders from the small fixture, has every section, page numbers and a sane length."""

from __future__ import annotations

import io

import pytest
from fixtures.report.make_fixture import small

from bench.report import build

pypdf = pytest.importorskip("pypdf")
SECTIONS = ("Contents", "Overview", "Q1(a): ResNets over the hyperparameter grid",
            "Training curves, factors and confusion matrices", "Q1(b): support vector machines",
            "Q2: CPU against GPU", "All runs", "Methodology and environment", "Downloads")


@pytest.fixture(scope="module")
def pdf(tmp_path_factory):
    root = tmp_path_factory.mktemp("pdf")
    written = build(small(root / "store"), root / "site", pdf=True)
    path = root / "site" / "report.pdf"
    assert path in written
    return pypdf.PdfReader(io.BytesIO(path.read_bytes()))


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
    assert "Best model per dataset (chosen on validation accuracy)" in text


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
