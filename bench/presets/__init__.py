"""Presets: short TOML files of parameter grids, expanded into RunSpecs with itertools.product."""

from __future__ import annotations

import difflib
import functools
import itertools
import json
import math
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from importlib import resources
from pathlib import Path
from types import MappingProxyType

from bench.errors import BenchError
from bench.spec import RESNET_ONLY, SVM_ONLY, RunSpec, run_id

SPEC_FIELDS = tuple(f.name for f in fields(RunSpec))


def preset_names() -> list[str]:
    files = resources.files("bench.presets").iterdir()
    return sorted(f.name.removesuffix(".toml") for f in files if f.name.endswith(".toml"))


def _text(name_or_path: str) -> tuple[str, str]:
    """A bundled preset's (by name) or a TOML file's (by path) text, with the name to cite in errors."""
    path = Path(name_or_path)
    if path.suffix == ".toml" or path.exists():
        if not path.is_file():
            raise BenchError(f"preset file {path} not found")
        try:
            return path.read_text(encoding="utf-8"), str(path)
        except (OSError, UnicodeDecodeError) as exc:
            raise BenchError(f"cannot read preset file {path}: {exc}") from None
    if name_or_path in preset_names():
        return resources.files("bench.presets").joinpath(f"{name_or_path}.toml").read_text("utf-8"), name_or_path
    raise BenchError(f"unknown preset {name_or_path!r}; choose from {', '.join(preset_names())} "
                     "or give a path to a .toml file")


# What a preset declares besides its grids: the report's sections come from these, never from names.
ROLES = {
    "grid": "a hyperparameter grid: its tables, factor findings and figures (Q1(a) and Q1(b) are grids)",
    "devices": "the same cells on several devices: CPU/GPU pairs and speedups (Q2)",
    "reference": "cells shown beside the grids, never ranked against them (full-scale anchors)",
}
DECLARED = ("same_host", "role", "question")
SCALE = ("subset", "test_size", "n_train", "seed")  # a study's scale: training and test images, seeds


@dataclass(frozen=True)
class Preset:
    """A preset as its TOML declares it, read and checked once (`load`): its grids and what the
    report and the store's bookkeeping take from it."""

    name: str  # as given: a bundled preset's name or a file's path, as every row of it stores
    grids: tuple[Mapping, ...]  # the [[grid]] tables, read-only
    # Whether it pairs measurements of one machine (q2 no longer does: its speedups pair `bench time`
    # rates of one host instead): its cells count as done only by attempts from this host.
    same_host: bool = False
    role: str = "grid"  # its role in the report (`ROLES`); a preset that declares none is a grid
    question: str = ""  # the assignment question it answers ("Q1(a)"), or "" for a preset of one's own

    def specs(self, overrides: dict | None = None, repeats: int = 1) -> list[RunSpec]:
        """Its cells' specs (`expand`), options' overrides applied, each repeated over seeds."""
        return expand(self.grids, overrides, repeats)

    def rescaled(self, overrides: dict, repeats: int = 1) -> str:
        """How options take a plan away from the scale this preset states, in words (`test_size 2000
        (the preset: 0)`), or "" for a plan at its own scale: a preset is the study, as it says."""
        def scale(specs: list[RunSpec]) -> dict[str, list]:
            return {f: sorted({getattr(s, f) for s in specs if f in s.fields}) for f in SCALE}

        stated, planned = scale(self.specs()), scale(self.specs(overrides, repeats))
        return ", ".join(f"{f} {','.join(map(str, planned[f]))} (the preset: {','.join(map(str, stated[f]))})"
                         for f in SCALE if planned[f] != stated[f])


def load(name_or_path: str) -> Preset:
    """A bundled preset (by name) or a TOML file (by path), checked; a file is read again on every
    call (it may have been edited), parsed once per text."""
    text, source = _text(name_or_path)
    return _parse(name_or_path, text, source)


@functools.lru_cache(maxsize=64)
def _parse(name_or_path: str, text: str, source: str) -> Preset:
    try:
        parsed = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise BenchError(f"preset {source} is not valid TOML: {exc}") from None
    unknown = sorted(set(parsed) - {"grid", *DECLARED})
    if unknown:
        raise BenchError(f"preset {source}: unknown top-level key {unknown[0]!r}; a preset has [[grid]] tables "
                         f"and optionally {', '.join(DECLARED)}")
    if not isinstance(parsed.get("same_host", False), bool):
        raise BenchError(f"preset {source}: same_host must be true or false")
    if parsed.get("role", "grid") not in ROLES:
        raise BenchError(f"preset {source}: role must be one of {', '.join(ROLES)}, got {parsed['role']!r}")
    if not isinstance(parsed.get("question", ""), str):
        raise BenchError(f"preset {source}: question must be text, e.g. \"Q1(a)\"")
    grids = parsed.get("grid")
    if not isinstance(grids, list) or not grids:
        raise BenchError(f"preset {source} has no [[grid]] tables")
    for grid in grids:
        if not isinstance(grid, dict):
            raise BenchError(f"preset {source}: every grid must be a [[grid]] table, got {grid!r}")
        for key in grid:
            if key not in SPEC_FIELDS:
                near = difflib.get_close_matches(key, SPEC_FIELDS, n=1)
                hint = f" (did you mean {near[0]!r}?)" if near else ""
                raise BenchError(f"preset {source}: unknown field {key!r}{hint}")
    return Preset(name_or_path, tuple(MappingProxyType(g) for g in grids),
                  **{k: parsed[k] for k in DECLARED if k in parsed})


def display(name_or_path) -> str:
    """A preset as a reader knows it: `q1a`, or a preset file by its name (`/tmp/my-grid.toml` ->
    `my-grid`); stored rows keep the path, which their reproduce commands need."""
    text = str(name_or_path or "")
    return Path(text).stem if text.endswith(".toml") else text


def study() -> list[str]:
    """The bundled presets that answer the assignment's questions, in the questions' order."""
    return sorted((name for name in preset_names() if load(name).question), key=lambda name: load(name).question)


STUDY_STORE = Path("results")  # the committed study
SCRATCH = Path("build")  # ignored by git: where any other preset or scale goes unless --store says otherwise


def default_store(name_or_path: str, overrides: dict, repeats: int = 1) -> Path:
    """Where cells go when no --store is given: results/ when every planned cell is a cell of a study
    preset as it states it (on any device: q2 runs once per device), else build/<preset>/results (as
    `make bench` does for smoke). So a default never mixes another preset or scale into the study.
    Only a study preset is read here: any other's errors are `load`'s to tell."""
    name = Path(name_or_path).stem
    if name_or_path in study():
        preset = load(name_or_path)
        own = {run_id(s) for s in preset.specs({k: v for k, v in overrides.items() if k == "device"})}
        if {run_id(s) for s in preset.specs(overrides, repeats)} <= own:
            return STUDY_STORE
    return SCRATCH / name / "results"


MAX_REPEATS = 1_000
MAX_CELLS = 100_000  # far beyond any study that fits a machine; stops typos before memory runs out


def expand(grids: Sequence[Mapping], overrides: dict | None = None, repeats: int = 1) -> list[RunSpec]:
    """Every cell of the grids, overrides applied, each repeated with seeds seed..seed+repeats-1."""
    if not 1 <= repeats <= MAX_REPEATS:
        raise BenchError(f"repeats must be from 1 to {MAX_REPEATS}, got {repeats}")
    specs: list[RunSpec] = []
    for grid in grids:
        kind = grid.get("kind", "resnet")
        grid = dict(grid)
        if kind == "svm":
            grid.setdefault("model", "svc")
        for key, value in (overrides or {}).items():
            not_for_kind = SVM_ONLY if kind == "resnet" else RESNET_ONLY
            if key not in not_for_kind and not (key == "model" and kind == "svm"):
                grid[key] = value
        axes = {k: v if isinstance(v, list) else [v] for k, v in grid.items()}
        empty = [k for k, v in axes.items() if not v]
        if empty:
            raise BenchError(f"a grid gives {empty[0]} an empty list; give it at least one value")
        if math.prod(map(len, axes.values())) * repeats > MAX_CELLS:
            raise BenchError(f"a grid expands to more than {MAX_CELLS:,} cells; split the study")
        for values in itertools.product(*axes.values()):
            try:
                base = RunSpec(**dict(zip(axes, values, strict=True)))
            except TypeError as exc:
                raise BenchError(f"a preset value has the wrong type: {exc}") from None
            specs.extend(base.replace(seed=base.seed + r) for r in range(repeats))
    unique: dict[str, RunSpec] = {}
    for spec in specs:  # cells with the same identity (e.g. an rbf kernel over several degrees) once
        unique.setdefault(json.dumps(spec.identity(), sort_keys=True), spec)
    return list(unique.values())
