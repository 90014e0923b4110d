"""The command line: parses options, calls the stage modules (`bench.campaign` for run and time) and
prints what they return; no logic of its own."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import click

from bench import env, ls, options, plan, presets, reuse, spec, store_commands, workers
from bench.errors import BenchError


def _planned(opts: dict) -> tuple[presets.Preset, list[plan.Cell]]:
    """The preset and the cells the options select; a store not given is resolved
    (`presets.default_store`), and said."""
    if opts["store"] is None:
        opts["store"] = presets.default_store(opts["preset"], options.overrides(opts), opts["repeats"])
        if opts["store"] != presets.STUDY_STORE:
            click.echo(f"store: {opts['store']} (these cells are not the study's own, which {presets.STUDY_STORE}/ "
                       "holds; --store chooses)", err=True)
    preset = presets.load(opts["preset"])
    cells = plan.cells_of(preset.specs(options.overrides(opts), opts["repeats"]), preset.same_host)
    if opts.get("shard"):
        k, n = plan.parse_shard(plan.scheduler_index(opts["shard"]))
        cells = plan.shard(cells, k, n, plan.work)
    return preset, cells


def _scale(preset: presets.Preset, opts: dict) -> str:
    """`; at another scale than preset P states: ...` where options change the preset's scale, else ""."""
    changed = preset.rescaled(options.overrides(opts), opts["repeats"])
    return f"; at another scale than preset {opts['preset']} states: {changed}" if changed else ""


def _note(text: str) -> None:
    """A note for the user, beside the output: on stderr."""
    click.echo(text, err=True)


@click.group(cls=options.OneLineErrors,
             context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="bench")
def main() -> None:
    """bench: run the ResNet/SVM benchmark study and publish it as a report."""


@main.command()
@options.selection
@options.data_dir
@click.option("--artifacts", type=click.Path(path_type=Path), default=Path("artifacts"), show_default=True,
              help="Where best-val weights go (outside git).")
@click.option("--force", is_flag=True, help="Redo cells already in the store.")
@click.option("--retry-failed", is_flag=True, help="Redo only cells stored as diverged or error.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@click.option("--tag", default="", help="Free text stored with every run of this invocation.")
@click.option("--deterministic", is_flag=True,
              help="Deterministic kernels (no cuDNN autotuning; slower on CUDA); recorded in every row.")
@click.option("--workers", type=options.WorkerCount(), default=workers.AUTO, show_default=True,
              help="Worker processes sharing the store and the threads; auto: one per thread on the CPU "
                   "(no more than have work worth a process start), one on CUDA (rows record the number, "
                   "whether auto chose it, and their concurrency).")
@options.step_config
@click.option("--budget", help="Wall time this run may take, e.g. 2h30m: no training run is started that the "
                               "estimate says cannot end in the time left; then it exits 0 with what remains.")
@click.option("--until", help="The clock time this run must end by, e.g. 18:30 (the next 18:30 on this machine's "
                              "clock): a budget of the time from now to then.")
def run(**opts) -> None:
    """Train and evaluate the cells of a preset; store each as it finishes; skip finished ones."""
    from bench import campaign, step_config

    budget = plan.budget(opts["budget"], opts["until"], datetime.now())
    step = step_config.parse(opts["step_config"])
    preset, cells = _planned(opts)
    ready = campaign.prepare(cells, preset=preset, store=opts["store"], data_dir=opts["data_dir"],
                             artifacts=opts["artifacts"], tag=opts["tag"], force=opts["force"],
                             retry_failed=opts["retry_failed"], deterministic=opts["deterministic"], step=step,
                             requested_workers=opts["workers"], budget=budget, say=_note)
    count, auto, wall = ready.settings.workers, ready.settings.workers_auto, ready.wall_seconds
    _note(f"{plan.plural(ready.planned, 'cell')} planned, {ready.stored} already stored"
          + (f", {ready.copies} stored as copies of the same computation" if ready.copies else "")
          + f", {len(ready.todo)} to run"
          + (f", {count} workers{' (auto)' if auto else ''}" if count > 1 else "")
          + (f", estimated {plan.human(wall)}" if wall is not None else "")
          + (f", budget {plan.human(budget)}" if budget is not None else "") + _scale(preset, opts))
    if not ready.todo:
        return
    finished = campaign.compute(ready, show=not opts["quiet"])
    for note in finished.notes:
        _note(note)
    for o in finished.outcomes:
        acc = "" if o.test_acc is None or o.test_acc != o.test_acc else f"{o.test_acc:.4f}"
        click.echo(f"{o.run_id}  {o.status:8}  {o.what}  test_acc={acc}")


def _timed(row: dict, cell: spec.RunSpec) -> str:
    """A `bench time` row in one line: the cell, its median rate and their range, how it stepped."""
    return (f"{row['run_id']}  {row['label']:18} {row['dataset']:7} {row['device']:4} {cell.optimizer:4} "
            f"lr={cell.lr:g} bs={row['batch_size']:<4} {row['images_per_s']:9.1f} images/s "
            f"({row['min_images_per_s']:.1f}-{row['max_images_per_s']:.1f}) "
            f"{row['memory_format']}/{row['optimizer_impl']}")


@main.command("time")
@options.selection
@options.data_dir
@click.option("--steps", type=click.IntRange(1, 100_000), default=20, show_default=True,
              help="Optimizer steps per timed block.")
@click.option("--blocks", type=click.IntRange(1, 1_000), default=5, show_default=True,
              help="Timed blocks per cell; the row keeps their median rate and range.")
@options.step_config
@click.option("--beside-others", is_flag=True,
              help="Time even while other bench processes compute on this machine (rows record the concurrency).")
def time_cmd(**opts) -> None:
    """Measure each ResNet cell's training speed alone (after warm-up, on its own data path) into
    the store's timings.csv; the report's speed tables use these where they exist."""
    from bench import campaign, step_config

    step = step_config.parse(opts["step_config"])
    cells = _planned(opts)[1]  # resolves the store first
    rows = campaign.time_cells(cells, preset=opts["preset"], store=opts["store"], data_dir=opts["data_dir"],
                               steps=opts["steps"], blocks=opts["blocks"], step=step,
                               beside_others=opts["beside_others"],
                               on_row=lambda row, cell: click.echo(_timed(row, cell)))
    click.echo(f"{len(rows)} cells timed into {opts['store'] / 'timings.csv'}", err=True)


@main.command("plan")
@options.selection
@click.option("--estimate/--no-estimate", default=True,
              help="Estimate the wall time (calibrates each training shape once per machine, seconds each).")
@click.option("--recalibrate", is_flag=True,
              help="Calibrate the shapes of the runs to do again (e.g. on an idle machine).")
@click.option("--workers", type=options.WorkerCount(), default=workers.AUTO, show_default=True,
              help="The workers of the `bench run` to estimate for (as its --workers).")
@click.option("--step-table", type=click.Path(path_type=Path),
              help="A step experiment's CSV (benchmarks/step-<device>.csv): also estimate the ResNet runs "
                   "to do on its device under each technique it measured (no GPU needed).")
def plan_cmd(**opts) -> None:
    """List the cells of a preset, which are done, and the wall time the rest would take here."""
    from bench import campaign
    from bench.store import Store
    from bench.store import exists as store_exists

    preset, cells = _planned(opts)
    finished = Store(opts["store"]).finished() if store_exists(opts["store"]) else set()
    to_run = plan.pending(cells, finished)
    reusable = reuse.sources(Store(opts["store"]).table("runs.csv").rows, to_run) if finished else {}
    to_run = [c for c in to_run if c.run_id not in reusable]
    count, auto = workers.choose(opts["workers"], to_run)
    threads = workers.threads_each(count)
    seconds = campaign.estimated(to_run, threads, _note, opts["recalibrate"]) if opts["estimate"] and to_run else {}
    if opts["step_table"]:
        from bench import estimate

        about, techniques = estimate.by_technique(to_run, opts["step_table"])
    for c in cells:
        state = "done" if c.done_key in finished else "reuse" if c.run_id in reusable else "todo"
        click.echo(plan.listing(c, state, seconds.get(c.run_id)))
    n_done = sum(c.done_key in finished for c in cells)
    how = f"{plan.plural(count, 'worker')}{' (auto)' if auto else ''} of {plan.plural(threads, 'thread')}"
    click.echo(f"{plan.plural(len(cells), 'cell')}, {n_done} done"
               + (f", {len(reusable)} reuse stored computations" if reusable else "") + f", {len(to_run)} to run"
               + (f" ({plan.plural(len(plan.groups_of(to_run)), 'training run')}), estimated "
                  f"{plan.human(workers.wall_seconds(to_run, seconds, count))} of wall time with {how}"
                  if seconds else "") + _scale(preset, opts))
    if seconds:
        from bench import estimate

        for note in estimate.under_load(to_run, threads):
            click.echo(note, err=True)
    if opts["step_table"]:
        click.echo(f"from the step table {opts['step_table']} ({about['device']}: {about['device_name']}, "
                   f"{about['threads']} threads, torch {about['torch']}), the ResNet runs to do on {about['device']}:"
                   + ("" if techniques else " none"))
        for technique, secs, covered, runs in techniques:
            click.echo(f"  {technique:9} " + (f"{plan.human(secs):>8}" if covered else "no run covered: the table "
                                               "has none of these models and batch sizes (fp32)")
                       + (f"  ({covered} of {runs} runs covered)" if 0 < covered < runs else ""))


@main.command("data")
@options.data_dir
def data_cmd(data_dir: Path | None) -> None:
    """Locate and verify both datasets (sha256 of every file)."""
    from bench import data

    for name in data.FOLDERS:
        ds = data.load(name, data_dir)
        click.echo(f"{name}: {len(ds.labels)} images ({ds.n_official_train} official train), verified")


@main.command("env")
@click.option("--device", type=click.Choice(spec.DEVICES), default="cpu")
def env_cmd(device: str) -> None:
    """What the environment columns of a run on DEVICE will say."""
    env.require_device(device)
    from bench import clock

    clock.use_threads()
    for key, value in env.describe(device).items():
        click.echo(f"{key}: {value}")


@main.command()
@options.store
@click.option("--out", type=click.Path(path_type=Path), default=Path("build/site"), show_default=True,
              help="The site's folder; the published report is --out site.")
@click.option("--pdf/--no-pdf", default=True, help="Also write report.pdf (weasyprint).")
@click.option("--repository", help="The project's web address to link (default: the git remote `origin`; '' for none).")
def report(store: Path, out: Path, pdf: bool, repository: str | None) -> None:
    """Rebuild the static site (and PDF) from the store."""
    from bench.report import build

    link = env.repository_url() if repository is None else repository
    if link and not link.startswith("https://"):
        raise BenchError(f"--repository must be an https:// address, got {link!r}")
    from bench.store import Store, exists

    for note in Store(store).torn_tails() if exists(store) else []:
        click.echo(note, err=True)
    written = build(store, out, pdf=pdf, repository=link)
    click.echo(f"wrote {len(written)} files to {out}")


main.add_command(store_commands.group)
main.add_command(ls.command)
options.one_variable_per_option(main)

if __name__ == "__main__":
    main()
