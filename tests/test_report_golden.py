"""Golden test of the rendered HTML against the small synthetic fixture store.

When a template or the view model changes on purpose, regenerate the golden files with

    .venv/bin/python -m tests.fixtures.report.make_golden

and review the diff of tests/fixtures/report/golden/ before committing it."""

from __future__ import annotations

import difflib

import pytest
from fixtures.report.make_fixture import small
from fixtures.report.make_golden import GOLDEN, golden_pages

from bench.report import build_files


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    return small(tmp_path_factory.mktemp("golden") / "store")


def test_html_matches_golden(store):
    pages = golden_pages(store)
    assert sorted(pages) == sorted(str(p.relative_to(GOLDEN)) for p in GOLDEN.rglob("*.html"))
    for name, text in pages.items():
        expected = (GOLDEN / name).read_text(encoding="utf-8")
        if text != expected:
            diff = "".join(difflib.unified_diff(expected.splitlines(True), text.splitlines(True), "golden", "now", n=1))
            pytest.fail(f"{name} differs from its golden file; if intended, run "
                        f"`python -m tests.fixtures.report.make_golden`:\n{diff[:4000]}")


def test_rebuild_is_byte_identical(store):
    """No clock, no random ids: two builds, figures included, give the same bytes."""
    first, second = build_files(store, pdf=False), build_files(store, pdf=False)
    assert sorted(first) == sorted(second)
    changed = [name for name in first if first[name] != second[name]]
    assert not changed
    assert any(name.startswith("figures/") and name.endswith(".svg") for name in first)
    svg = next(v for k, v in first.items() if k.endswith(".svg"))
    assert b"<dc:date>" not in svg
