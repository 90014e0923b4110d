"""The command line's shared options and conventions: one environment variable per option, the
options that select cells (a preset and overrides of its fields), usage errors as one line."""

from __future__ import annotations

from pathlib import Path

import click
from click.core import ParameterSource

from bench import presets, spec
from bench.errors import BenchError

LISTS = {  # option -> (spec field, type of each comma-separated item)
    "datasets": ("dataset", str), "models": ("model", str), "optimizers": ("optimizer", str),
    "lr": ("lr", float), "batch_size": ("batch_size", int), "epochs": ("epochs", int),
    "kernels": ("kernel", str), "degrees": ("degree", int), "C": ("C", float), "gammas": ("gamma", str),
}


def _parse_list(name: str, text: str, kind):
    try:
        return [kind(item.strip()) for item in text.split(",") if item.strip()]
    except ValueError:
        raise BenchError(f"--{name.replace('_', '-')}: cannot read {text!r} as a list of {kind.__name__}") from None


def overrides(opts: dict) -> dict:
    out = {}
    for option, (field, kind) in LISTS.items():
        if opts.get(option):
            out[field] = _parse_list(option, opts[option], kind)
    for field in ("subset", "test_size", "device", "split", "stem", "amp", "n_train", "data_seed", "seed"):
        if opts.get(field) is not None:
            out[field] = opts[field]
    if opts.get("pin_memory"):
        out["pin_memory"] = [{"true": True, "false": False}[v] for v in _parse_list("pin_memory",
                                                                                  opts["pin_memory"], str)]
    return out


class WorkerCount(click.ParamType):
    """`auto` or a whole number of worker processes from 1 to bench.workers.MAX_WORKERS."""

    name = "auto|N"

    def convert(self, value, param, ctx):
        from bench.workers import AUTO, MAX_WORKERS

        text = str(value).strip().lower()
        if text == AUTO:
            return AUTO
        if not (text.isascii() and text.isdecimal() and 1 <= int(text) <= MAX_WORKERS):
            self.fail(f"{value!r}: give auto or a number from 1 to {MAX_WORKERS}", param, ctx)
        return text


step_config = click.option(
    "--step-config", default="auto", show_default=True,
    help="How the training step computes: auto (the fastest here, measured at warm-up) or FORMAT/IMPL, "
         "e.g. contiguous/fused or channels_last/default (memory format / optimizer implementation); "
         "recorded in every row.")
data_dir = click.option("--data-dir", type=click.Path(path_type=Path),
                        help="Folder with the IDX files (default: download with torchvision).")
store = click.option("--store", type=click.Path(path_type=Path), default=Path("results"), show_default=True,
                     help="Results store folder.")


def selection(fn):
    """Options shared by `run` and `plan`: which preset, and overrides of any of its fields."""
    options = [
        click.option("--preset", default="smoke", show_default=True,
                     help=f"Bundled preset ({', '.join(presets.preset_names())}) or a path to a .toml file."),
        click.option("--datasets", help="Comma-separated: mnist,fashion."),
        click.option("--models", help="Comma-separated model names, e.g. resnet18,resnet32."),
        click.option("--optimizers", help="Comma-separated: sgd,adam."),
        click.option("--lr", help="Comma-separated learning rates, e.g. 1e-3,1e-4."),
        click.option("--batch-size", help="Comma-separated batch sizes."),
        click.option("--epochs", help="Comma-separated epoch counts."),
        click.option("--pin-memory", type=click.Choice(["true", "false", "true,false"]), help="pin_memory values."),
        click.option("--subset", type=int,
                     help="Train on a stratified sample of N training images (0: all); test images are unchanged."),
        click.option("--test-size", type=int, help="Test images (0: all; the study's presets use 2000)."),
        click.option("--device", type=click.Choice(spec.DEVICES)),
        click.option("--split", type=click.Choice(spec.SPLITS), help="random 70/10/20 or official."),
        click.option("--stem", type=click.Choice(spec.STEMS), help="Stem of ResNet-18/34/50."),
        click.option("--amp/--no-amp", default=None, help="Mixed precision (bf16 on CPU)."),
        click.option("--kernels", help="SVM kernels, comma-separated: poly,rbf."),
        click.option("--degrees", help="SVM poly degrees, comma-separated."),
        click.option("--C", "C", help="SVM C values, comma-separated."),
        click.option("--gammas", help="SVM gamma values, comma-separated: scale,auto."),
        click.option("--n-train", type=int, help="SVM training subsample."),
        click.option("--seed", type=int, help="First seed (weights, shuffling)."),
        click.option("--data-seed", type=int, help="Seed of the split and subset."),
        click.option("--repeats", type=int, default=1, show_default=True, help="Seeds per cell."),
        click.option("--shard", help="Run only part K of N, e.g. 2/4."),
        click.option("--store", type=click.Path(path_type=Path),
                     help="Results store folder (default: results for a study preset's own cells, at the scale "
                          "it states; build/<preset>/results for any other preset or scale)."),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


ENVIRONMENT_NOTICE = "from the environment: "
WHERE = ("store", "data_dir", "artifacts")  # where things are, not what runs: set in every image


def say_environment(ctx: click.Context) -> None:
    """Options set by a BENCH_* variable change what a command does: say so, never silently."""
    used = [f"{p.envvar}={ctx.params[p.name]}" for p in ctx.command.params
            if p.name not in WHERE and ctx.get_parameter_source(p.name) == ParameterSource.ENVIRONMENT]
    if used:
        click.echo(ENVIRONMENT_NOTICE + ", ".join(used), err=True)


class Announced(click.Command):
    """A command that first says which of its options came from the environment."""

    def invoke(self, ctx: click.Context):
        say_environment(ctx)
        return super().invoke(ctx)


class OneLineErrors(click.Group):
    """Usage errors (a bad option value, an unknown command) as one line, like every other user error.
    Its commands announce options from the environment; its subgroups are of this class too."""

    command_class = Announced
    group_class = type

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except click.exceptions.NoArgsIsHelpError:
            raise  # `bench store` alone prints its help, as click does
        except click.UsageError as exc:
            where = exc.ctx.command_path if exc.ctx else "bench"
            raise BenchError(f"{exc.format_message()} (see `{where} -h`)") from None


def variable(option: click.Option) -> str:
    """The one environment variable of an option: BENCH_ and its name, the same in every command."""
    return f"BENCH_{option.name.upper()}"


def one_variable_per_option(group: click.Group) -> None:
    """Every option of every command reads exactly one variable (shown in --help); no prefixes per
    command, no second name."""
    for command in group.commands.values():
        if isinstance(command, click.Group):
            one_variable_per_option(command)
        for param in command.params:
            if isinstance(param, click.Option):
                param.envvar, param.show_envvar = variable(param), True
