"""The store: round trip with explicit dtypes, resume, merge without duplicates, migrate, newer schema refused."""

import json

import pytest

from bench import maintenance
from bench.errors import BenchError
from bench.migrations import SCHEMA_VERSION
from bench.store import Store


def row(run_id, record_id, **extra):
    return {"run_id": run_id, "record_id": record_id, "status": "done", "label": "resnet18", "dataset": "mnist",
            "lr": 0.001, "test_acc": 0.9, "train_time_s": 12.10, "pin_memory": True, "finished_at": record_id,
            "confusion": [[1, 2], [3, 4]], "message": "a, \"quoted\"\nmessage", **extra}


def curve(run_id, record_id, epoch):
    return {"run_id": run_id, "record_id": record_id, "epoch": epoch, "train_loss": 1.0 / epoch, "val_acc": 0.5}


def test_round_trip_keeps_types_and_text(tmp_path):
    store = Store(tmp_path / "s", create=True)
    store.append(row("a", "r1", gamma="scale", degree=3), [curve("a", "r1", 1), curve("a", "r1", 2)])
    runs = Store(tmp_path / "s").runs()
    assert runs.loc[0, "lr"] == 0.001 and str(runs["lr"].dtype) == "Float64"
    assert runs.loc[0, "train_time_s"] == 12.10
    assert bool(runs.loc[0, "pin_memory"]) is True and runs.loc[0, "degree"] == 3
    assert runs.loc[0, "message"] == 'a, "quoted" message'
    assert json.loads(runs.loc[0, "confusion"]) == [[1, 2], [3, 4]]
    assert runs["kernel"].isna().all()
    assert Store(tmp_path / "s").epochs()["epoch"].tolist() == [1, 2]


def test_latest_attempt_wins_and_finished_ids(tmp_path):
    store = Store(tmp_path, create=True)
    store.append(row("a", "r1", status="error"), [])
    store.append(row("b", "r2"), [curve("b", "r2", 1)])
    assert store.finished() == {"a", "b", "a@?", "b@?"} and store.finished(("done",)) == {"b", "b@?"}
    store.append(row("a", "r3"), [curve("a", "r3", 1)])
    runs = store.runs()
    assert len(runs) == 2 and set(runs["record_id"]) == {"r2", "r3"}
    assert len(store.epochs()) == 2


def test_newer_schema_is_refused_with_advice(tmp_path):
    Store(tmp_path, create=True)
    (tmp_path / "manifest.json").write_text(json.dumps({"schema_version": SCHEMA_VERSION + 1}))
    with pytest.raises(BenchError, match="newer than this bench understands"):
        Store(tmp_path)


def test_migrate_from_schema_1(tmp_path):
    (tmp_path / "manifest.json").write_text(json.dumps({"schema_version": 1}))
    (tmp_path / "runs.csv").write_text("run_id,status,label,test_acc\na,done,resnet18,0.5\na,done,resnet18,0.7\n")
    (tmp_path / "epochs.csv").write_text("run_id,epoch,val_acc\na,1,0.4\n")
    with pytest.raises(BenchError, match="bench store migrate"):
        Store(tmp_path)
    assert "migrated from schema 1" in maintenance.migrate(tmp_path)
    store = Store(tmp_path)
    runs = store.runs()
    assert runs["test_acc"].tolist() == [0.7]
    assert store.epochs()["val_acc"].tolist() == [0.4]
    assert "already" in maintenance.migrate(tmp_path)


def test_migrate_to_8_stores_what_each_rows_preset_declares_and_the_report_reads_the_row(tmp_path):
    """Schema 8 stores each row's preset's role and `same_host`; older rows get what their preset
    declares now (a missing preset file or none: a grid pairing nothing by host). From then on the
    row decides: its latest attempts are per host only where it says so, whatever the files say."""
    from bench import attempts

    (tmp_path / "manifest.json").write_text(json.dumps({"schema_version": 7}))
    header = "run_id,record_id,status,preset,host_id,test_acc"
    (tmp_path / "runs.csv").write_text(f"{header}\n" + "".join(
        f"{cell},{record},done,{preset},{host},0.9\n" for cell, record, preset, host in [
            ("a", "r1", "q2", "h1"), ("a", "r2", "q2", "h2"), ("b", "r3", "q1a", "h1"), ("b", "r4", "q1a", "h2"),
            ("c", "r5", str(tmp_path / "gone.toml"), "h1"), ("d", "r6", "", "h1")]))
    (tmp_path / "epochs.csv").write_text("run_id,record_id,epoch\n")
    assert "migrated from schema 7" in maintenance.migrate(tmp_path)
    store = Store(tmp_path)
    declared = {r["record_id"]: (r["role"], r["same_host"]) for r in store.table("runs.csv").rows}
    assert declared == {"r1": ("devices", "false"), "r2": ("devices", "false"), "r3": ("grid", "false"),
                        "r4": ("grid", "false"), "r5": ("grid", "false"), "r6": ("grid", "false")}
    assert sorted(store.runs(key=attempts.key)["record_id"]) == ["r2", "r4", "r5", "r6"]  # one attempt a cell
    # the row decides, not today's files: the same rows stored as paired by host keep each host's attempt
    rows = [{**r, "same_host": "true"} if r["run_id"] == "a" else r for r in store.table("runs.csv").rows]
    assert sorted(store.runs(key=attempts.key, rows=rows)["record_id"]) == ["r1", "r2", "r4", "r5", "r6"]


def test_merge_combines_without_duplicates_and_reports_conflicts(tmp_path):
    a, b, out = Store(tmp_path / "a", create=True), Store(tmp_path / "b", create=True), tmp_path / "out"
    a.append(row("x", "r1", finished_at="1"), [curve("x", "r1", 1)])
    b.append(row("y", "r2", finished_at="2"), [curve("y", "r2", 1)])
    b.append(row("x", "r3", finished_at="3", test_acc=0.5), [])
    first = maintenance.merge([tmp_path / "a", tmp_path / "b"], out)
    assert first.added == 3 and len(first.conflicts) == 1 and "x" in first.conflicts[0]
    again = maintenance.merge([tmp_path / "a", tmp_path / "b"], out)
    assert again.added == 0 and again.duplicates == 3
    merged = Store(out)
    assert len(merged.table("runs.csv").rows) == 3
    assert set(merged.runs()["run_id"]) == {"x", "y"} and len(merged.epochs()) == 1


def test_merge_compares_results_not_how_they_were_computed(tmp_path):
    """Two attempts of one cell on one host that differ only in columns that do not change the result
    (`--workers`, a later column, the environment) are no conflict; a different accuracy is."""
    a, b, out = Store(tmp_path / "a", create=True), Store(tmp_path / "b", create=True), tmp_path / "out"
    a.append(row("x", "r1", host_id="h", workers=1, workers_auto=False, threads=1), [])
    b.append(row("x", "r2", host_id="h", workers=2, workers_auto=True, threads=2, optimizer_impl="fused"), [])
    assert maintenance.merge([tmp_path / "a", tmp_path / "b"], out).conflicts == []
    b.append(row("x", "r3", host_id="h", workers=2, test_acc=0.8), [])
    assert len(maintenance.merge([tmp_path / "b"], out).conflicts) == 1
