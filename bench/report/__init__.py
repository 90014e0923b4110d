"""`bench report`: read the store, build the view model, draw figures, render pages, write once.

Stages, one module each: load (store -> rows), cells/findings/tables/q2/commands (view pieces),
view (the whole view model), charts and figures (SVG), render (Jinja and weasyprint), write."""

from __future__ import annotations

from pathlib import Path

from bench.report import figures, load, render, view, write
from bench.report.write import write_site


def build_files(store: Path, pdf: bool = True, repository: str = "") -> dict[str, str | bytes]:
    """Every file of the site, in memory: pages, assets, figures, store CSVs and report.pdf.
    `repository`: the project's web address, linked from every page ("" for none)."""
    study = load.read(Path(store))
    model = view.build(study)
    model["repository"] = repository
    figure_files, model["figures"] = figures.render(model)
    env = render.environment()
    files: dict[str, str | bytes] = {".nojekyll": "", **figure_files, **render.assets(env),
                                     **{f"data/{name}": data for name, data in study.files.items()}}
    model["has_pdf"] = pdf
    files.update(render.site(model, env))
    if pdf:
        files["report.pdf"] = render.pdf(model, env, files)
    return files


def build(store: Path, out: Path, pdf: bool = True, repository: str = "") -> list[Path]:
    """Rebuild `out` from the store at `store`; return the files written."""
    write.check_out(Path(out), [Path(store)])  # before the slow part: fail fast
    return write_site(Path(out), build_files(store, pdf, repository), protected=[Path(store)])
