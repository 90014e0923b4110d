"""`bench report`: read the store, build the view model, draw figures, render pages, write once.

Stages, one module each: load (store -> rows), cells/findings/tables/q2/commands (view pieces),
view (the whole view model), charts and figures (SVG), render (Jinja and weasyprint), write."""

from __future__ import annotations

from pathlib import Path

from bench.report import aside, figures, load, render, view, write
from bench.report.write import write_site


def build_files(store: Path, pdf: bool = True, repository: str = "") -> dict[str, str | bytes]:
    """Every file of the site, in memory: pages, assets, figures, store CSVs and report.pdf.
    `repository`: the project's web address, linked from every page ("" for none)."""
    model, env, files = _site(store, pdf, repository)
    if pdf:
        files["report.pdf"] = render.pdf(model, env, files)
    return files


def pdf_layout(store: Path):
    """The PDF of the store's report as weasyprint lays it out (its pages and boxes), for checks of
    where things fall that the written PDF no longer tells."""
    return render.layout(*_site(store, True, ""))


def _site(store: Path, pdf: bool, repository: str) -> tuple[dict, object, dict[str, str | bytes]]:
    """The view model, the template environment and every file of the site but the PDF."""
    study = load.read(Path(store))
    model = view.build(study)
    model["repository"] = repository
    model["has_pdf"] = pdf
    drawn_aside = aside.beside(figures.render, model, figures.ASIDE)  # about half the figures, meanwhile:
    env = render.environment()
    files: dict[str, str | bytes] = {".nojekyll": "", **render.assets(env), **render.run_pages(model, env),
                                     **{f"data/{name}": data for name, data in study.files.items()}}
    own_files, own = figures.render(model, figures.HERE)
    aside_files, drawn = drawn_aside()
    files.update({**own_files, **aside_files})
    model["figures"] = {**own, **drawn}
    files.update(render.site(model, env))
    return model, env, files


def build(store: Path, out: Path, pdf: bool = True, repository: str = "") -> list[Path]:
    """Rebuild `out` from the store at `store`; return the files written."""
    write.check_out(Path(out), [Path(store)], probe=True)  # before the slow part: fail fast
    return write_site(Path(out), build_files(store, pdf, repository), protected=[Path(store)])
