"""Property tests: arbitrary rows survive a store round trip, merging is idempotent and does not depend
on the order of the sources, and run ids are the same in every process."""

from __future__ import annotations

import dataclasses
import json
import math
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench import maintenance
from bench.csvfile import read_table
from bench.schema import BOUNDS, EPOCH_COLUMNS, FILES, RUN_COLUMNS
from bench.spec import DATASETS, OPTIMIZERS, RESNETS, RunSpec, run_id
from bench.store import Store

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

text = st.text(st.characters(exclude_categories=("Cs",)), max_size=30)  # any unicode a str can hold
tricky = st.one_of(text, st.sampled_from(['a,b', '"', '""', 'x\ny', 'line\r\nbreak', ' ', '', 'true', '1e3',
                                          'nan', '<script>', 'é漢字🙂', '\x00', '\\N', '#', '-']))
floats = st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True))
ints = st.one_of(st.none(), st.integers(-(2**62), 2**62))
bools = st.one_of(st.none(), st.booleans())
BY_DTYPE = {"string": tricky, "Float64": floats, "Int64": ints, "boolean": bools}


def _possible(column: str, dtype: str):
    """Any value the store accepts for `column`: numbers finite and within its bounds (an impossible
    one is refused before it is written; tests/test_store_check.py covers that)."""
    low, high = BOUNDS.get(column, (-(2.0**62), 2.0**62))
    if dtype == "Float64":  # NaN is a missing value, stored as empty
        return st.one_of(st.none(), st.just(float("nan")), st.floats(max(low, -1e300), min(high, 1e300)))
    if dtype == "Int64":
        return st.one_of(st.none(), st.integers(int(max(low, -(2**62))), int(min(high, 2**62))))
    return BY_DTYPE[dtype]


@st.composite
def run_rows(draw, n: int = 3) -> list[dict]:
    rows = []
    for i in range(draw(st.integers(1, n))):
        columns = draw(st.lists(st.sampled_from(list(RUN_COLUMNS)), unique=True, max_size=12))
        row = {c: draw(_possible(c, RUN_COLUMNS[c])) for c in columns}
        row.update(run_id=f"run{i}", record_id=f"rec{i}", status=draw(st.sampled_from(["done", "error"])))
        if "confusion" in row:  # a JSON square matrix of counts, or nothing (other text is a bad line)
            row["confusion"] = draw(st.sampled_from([None, "[[1,0],[2,3]]", "[]", "[[7]]"]))
        rows.append(row)
    return rows


def expected(value, dtype: str):
    """What reading gives back: whitespace runs become one space (one physical line per row)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if dtype == "string":
        return " ".join(value.split()) or None
    return value


def as_python(value):
    return None if value is pd.NA or (isinstance(value, float) and math.isnan(value)) else value


@SETTINGS
@given(run_rows())
def test_rows_round_trip_through_the_store(rows):
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(Path(tmp), create=True)
        for row in rows:
            store.append(row, [{"run_id": row["run_id"], "record_id": row["record_id"], "epoch": 1,
                                "val_acc": row.get("test_acc")}])
        again = Store(Path(tmp))
        assert not read_table(again.root / "runs.csv", RUN_COLUMNS).bad_lines
        frame = again.runs().set_index("record_id")
        for row in rows:
            for column, value in row.items():
                if column == "record_id":
                    continue
                got = as_python(frame.loc[row["record_id"], column])
                want = expected(value, RUN_COLUMNS[column])
                assert got == want or (want is not None and got is not None and float(got) == float(want)), \
                    (column, value, got)
        assert maintenance.check(again.root) == []
        assert len(again.epochs()) == len(rows)


@st.composite
def stores(draw) -> list[list[dict]]:
    """2-3 stores of attempts; some attempts are copied into several stores (same record id, same text)."""
    pool = []
    for i in range(draw(st.integers(1, 8))):
        pool.append({"run_id": f"run{draw(st.integers(0, 4))}", "record_id": f"rec{i}", "status": "done",
                     "label": draw(st.sampled_from(["resnet20", "svc-rbf"])),
                     "test_acc": draw(st.sampled_from([0.5, 0.9, None])), "epochs": draw(st.integers(1, 3)),
                     "finished_at": draw(st.sampled_from(["2026-01-01", "2026-01-02", ""])),
                     "message": draw(tricky)})
    return [draw(st.lists(st.sampled_from(pool), unique_by=lambda r: r["record_id"], max_size=6))
            for _ in range(draw(st.integers(2, 3)))]


def build(root: Path, attempts: list[dict]) -> Path:
    store = Store(root, create=True)
    for row in attempts:
        store.append(row, [{"run_id": row["run_id"], "record_id": row["record_id"], "epoch": e, "val_acc": 0.1 * e}
                           for e in range(row["epochs"], 0, -1)])
    return root


def contents(root: Path) -> tuple[str, str]:
    return tuple((root / name).read_text() if (root / name).exists() else "" for name in FILES)


@SETTINGS
@given(stores(), st.randoms(use_true_random=False))
def test_merge_is_idempotent_and_order_independent(sources, rnd):
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        roots = [build(tmp / f"s{i}", attempts) for i, attempts in enumerate(sources)]
        shuffled = rnd.sample(roots, len(roots))
        maintenance.merge(roots, tmp / "a")
        maintenance.merge(shuffled, tmp / "b")
        assert contents(tmp / "a") == contents(tmp / "b")
        once = contents(tmp / "a")
        summary = maintenance.merge(roots, tmp / "a")
        assert contents(tmp / "a") == once and summary.added == 0
        unique = {r["record_id"] for attempts in sources for r in attempts}
        merged = read_table(tmp / "a" / "runs.csv", RUN_COLUMNS)
        assert sorted(r["record_id"] for r in merged.rows) == sorted(unique) and not merged.bad_lines
        assert not read_table(tmp / "a" / "epochs.csv", EPOCH_COLUMNS).bad_lines
        assert maintenance.check(tmp / "a") == []


resnet_specs = st.builds(
    RunSpec, kind=st.just("resnet"), dataset=st.sampled_from(DATASETS), model=st.sampled_from(RESNETS),
    stem=st.sampled_from(["standard", "cifar"]), optimizer=st.sampled_from(OPTIMIZERS),
    lr=st.floats(1e-8, 10), batch_size=st.integers(1, 4096), epochs=st.integers(1, 500),
    pin_memory=st.sampled_from([None, True, False]), amp=st.booleans(), device=st.sampled_from(["cpu", "cuda"]),
    seed=st.integers(0, 2**31), split=st.sampled_from(["random", "official"]),
    subset=st.one_of(st.just(0), st.integers(50, 70_000)))
svm_specs = st.builds(
    RunSpec, kind=st.just("svm"), model=st.just("svc"), dataset=st.sampled_from(DATASETS),
    kernel=st.sampled_from(["poly", "rbf"]), degree=st.integers(1, 9), C=st.floats(1e-4, 1e4),
    gamma=st.sampled_from(["scale", "auto"]), n_train=st.integers(10, 60_000), seed=st.integers(0, 100))
PROBE = ("import json, sys\nfrom bench.spec import RunSpec, run_id\n"
         "print(json.dumps([run_id(RunSpec(**s)) for s in json.load(sys.stdin)]))")


@settings(max_examples=3, deadline=None)
@given(st.lists(st.one_of(resnet_specs, svm_specs), min_size=25, max_size=25))
def test_run_ids_are_the_same_in_another_process(specs):
    payload = json.dumps([dataclasses.asdict(spec) for spec in specs])
    for hash_seed in ("1", "4242"):
        out = subprocess.run([sys.executable, "-c", PROBE], input=payload, capture_output=True, text=True,
                             check=True, env={**os.environ, "PYTHONHASHSEED": hash_seed}, timeout=120)
        assert json.loads(out.stdout) == [run_id(spec) for spec in specs]


def test_run_id_is_pinned():
    """Changing how ids are computed orphans every stored run: do it only with a store migration.
    (Schema 3 added test_size to the identity on purpose: `subset` now shrinks training only, so a
    cell of schema 2 with the same subset is another computation and must not be skipped as done.
    Schema 5 dropped the CPU or GPU model from the id: a cell is the same cell on every machine.)"""
    spec = RunSpec(model="resnet20", dataset="fashion", optimizer="sgd", lr=0.01, batch_size=64, epochs=10)
    assert run_id(spec) == "33e5e29bcf62d084"

