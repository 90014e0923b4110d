"""No command loses stored rows or writes outside its folders: the report never replaces a store or
a foreign folder and swaps its site in whole; merge keeps a last line without newline and can be
rerun after a kill; migrate refuses a manifest that understates the data; ids from the data never
become paths."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from bench import csvfile, maintenance
from bench.cli import main
from bench.report import figures, write
from bench.schema import FILES
from bench.store import Store
from tests.test_bad_inputs import one_error_line, snapshot


def row(run_id: str, record_id: str, finished: str = "2026-01-01", **extra) -> dict:
    return {"run_id": run_id, "record_id": record_id, "status": "done", "kind": "svm", "model": "svc",
            "dataset": "mnist", "label": "svc-rbf", "kernel": "rbf", "C": 1.0, "gamma": "scale", "n_train": 50,
            "test_acc": 0.5, "preset": "smoke", "device": "cpu", "finished_at": finished,
            "confusion": [[1, 0], [0, 1]], **extra}


def make_store(root: Path, rows: list[dict], epochs: int = 2) -> Path:
    store = Store(root, create=True)
    for r in rows:
        store.append(r, [{"run_id": r["run_id"], "record_id": r["record_id"], "epoch": e, "val_acc": 0.1 * e}
                         for e in range(1, epochs + 1)])
    return root


def cli(*args: str):
    return CliRunner().invoke(main, [str(a) for a in args])


def n_lines(path: Path) -> int:
    return path.read_text().count("\n")


# --- bench report ------------------------------------------------------------------------------

@pytest.fixture
def site(tmp_path) -> tuple[Path, Path]:
    store = make_store(tmp_path / "results", [row("aaaa", "r1"), row("bbbb", "r2", kernel="poly", degree=2)])
    out = tmp_path / "site"
    result = cli("report", "--store", store, "--out", out, "--no-pdf")
    assert result.exit_code == 0, result.output
    return store, out


def test_report_refuses_a_store_inside_its_out_and_keeps_the_store(site, tmp_path):
    store, out = site
    inner = make_store(out / "results", [row("cccc", "r3")])
    before = snapshot(out)
    result = cli("report", "--store", inner, "--out", out, "--no-pdf")
    assert result.exit_code == 1 and "overlap" in one_error_line(result.output)
    assert snapshot(out) == before
    result = cli("report", "--store", store, "--out", store, "--no-pdf")  # out == store
    assert result.exit_code == 1 and len(Store(store).runs()) == 2


def test_report_refuses_a_folder_it_did_not_write(tmp_path, site):
    store, _ = site
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "thesis.tex").write_text("precious")
    result = cli("report", "--store", store, "--out", mine, "--no-pdf")
    assert result.exit_code == 1 and "not written by `bench report`" in one_error_line(result.output)
    assert (mine / "thesis.tex").read_text() == "precious"


@pytest.mark.parametrize("fault", ["kill", "disk-full"])
def test_a_rebuild_that_cannot_finish_leaves_the_old_site_whole(site, monkeypatch, fault):
    store, out = site
    before = snapshot(out)
    real_write = Path.write_bytes
    calls = []

    def failing_write(self, data):
        calls.append(self)
        if len(calls) > 5:
            if fault == "kill":
                raise KeyboardInterrupt  # what a SIGINT/kill mid-build looks like to the writer
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(self, data)

    monkeypatch.setattr(Path, "write_bytes", failing_write)
    if fault == "kill":
        with pytest.raises(KeyboardInterrupt):
            write.write_site(out, {"index.html": "new", **{f"runs/{i}.html": "x" for i in range(10)}})
    else:
        result = cli("report", "--store", store, "--out", out, "--no-pdf")
        assert result.exit_code == 1 and "previous site is unchanged" in one_error_line(result.output)
    monkeypatch.undo()
    after = {k: v for k, v in snapshot(out).items() if not k.startswith(".new-")}
    assert after == before
    # the next build succeeds and leaves no staging folder behind
    assert cli("report", "--store", store, "--out", out, "--no-pdf").exit_code == 0
    assert not [p for p in out.iterdir() if p.name.startswith(".new-")]
    assert (out / "index.html").exists()


def test_rebuild_removes_stale_pages_but_never_follows_a_symlink(site, tmp_path):
    store, out = site
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep.txt").write_text("keep")
    (out / "stale.html").write_text("old")
    (out / "link").symlink_to(outside, target_is_directory=True)
    assert cli("report", "--store", store, "--out", out, "--no-pdf").exit_code == 0
    assert not (out / "stale.html").exists() and not (out / "link").exists()
    assert (outside / "keep.txt").read_text() == "keep"


def test_report_writes_only_inside_out(site, tmp_path, monkeypatch):
    """Every file-system write the report makes, seen through Python's audit hooks, is inside --out
    (the tests run as root, so a read-only parent cannot be made with chmod alone). The only other
    writes allowed are scratch files that library loading (ctypes.util.find_library, used by
    weasyprint's cffi) makes in the temp folder, pointed here at a folder of its own."""
    store, out = site
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    writes: list[str] = []
    active = [True]

    def hook(event, args):
        if not active[0]:
            return
        if event == "open" and isinstance(args[0], str | bytes | os.PathLike):
            mode, flags = args[1], args[2]
            if (mode and any(c in mode for c in "wax+")) or (flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT)):
                writes.append(os.fsdecode(args[0]))
        elif event in ("os.remove", "os.rmdir") and args[1] is not None:
            return  # relative to a dir_fd: inside a shutil.rmtree, whose own event names the top folder
        elif event in ("os.rename", "os.mkdir", "os.remove", "os.rmdir", "shutil.rmtree", "os.symlink"):
            writes.append(os.fsdecode(args[0]))
            if event == "os.rename":
                writes.append(os.fsdecode(args[1]))

    sys.addaudithook(hook)
    try:
        result = cli("report", "--store", store, "--out", out)  # with the PDF
    finally:
        active[0] = False
    assert result.exit_code == 0, result.output
    real_out = out.resolve()
    allowed = (real_out, scratch.resolve())
    outside = [w for w in writes if w != os.devnull
               and not any(Path(os.path.abspath(w)).resolve().is_relative_to(a) for a in allowed)]
    assert writes and outside == []


def test_ids_from_the_data_never_become_paths(tmp_path):
    store = make_store(tmp_path / "results", [row("aaaa", "r1")])
    with (store / "runs.csv").open("a") as f:  # what a hostile merged store could hold
        f.write(csvfile.csv_line([{**row("aaaa", "r1"), "run_id": "../../../tmp/pwned", "record_id": "r9"}.get(c)
                                  for c in FILES["runs.csv"]]))
    out = tmp_path / "site"
    result = cli("report", "--store", store, "--out", out, "--no-pdf")
    assert result.exit_code == 1 and "is not an id" in one_error_line(result.output)
    assert not out.exists() and not Path("/tmp/pwned.html").exists()
    result = cli("store", "check", "--store", store)
    assert result.exit_code == 1 and "is not an id" in result.output
    with pytest.raises(Exception, match="refusing to write"):
        write.write_site(tmp_path / "site2", {"runs/../../escape.html": "x"})
    assert not (tmp_path / "escape.html").exists()


def test_figure_names_from_stored_text_are_safe_slugs():
    assert figures.slug("q1a", "mnist", "cpu") == "q1a-mnist-cpu"
    for hostile in ("../../etc/x", "/abs/path", "a b.toml", "..", "x$\\alpha$"):
        name = figures.slug(hostile, "mnist")
        assert "/" not in name and " " not in name and ".." not in name and name
    assert figures.slug("../x") != figures.slug("..-x")


def test_a_preset_path_with_dots_and_spaces_stays_in_the_site(tmp_path):
    store = make_store(tmp_path / "results", [row("aaaa", "r1", preset="../../my presets/$x$.toml")])
    out = tmp_path / "a" / "site"
    result = cli("report", "--store", store, "--out", out)  # the PDF too
    assert result.exit_code == 0, result.output
    assert (out / "report.pdf").read_bytes()[:4] == b"%PDF"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "results"]
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == ["site"]


# --- bench store merge -------------------------------------------------------------------------

def test_merge_into_a_store_without_final_newline_keeps_the_last_row(tmp_path):
    into = make_store(tmp_path / "into", [row("aaaa", "r1"), row("bbbb", "r2", "2026-01-02T10:00:00+00:00")])
    path = into / "runs.csv"
    path.write_text(path.read_text()[:-1])  # a hand edit: last row complete, newline missing
    source = make_store(tmp_path / "src", [row("cccc", "r3")])
    result = cli("store", "merge", source, "--into", into)
    assert result.exit_code == 0, result.output
    assert "interrupted write" not in result.output  # a whole row: it belongs in the store
    kept = {r["record_id"] for r in csvfile.read_table(path, FILES["runs.csv"]).rows}
    assert kept == {"r1", "r2", "r3"} and not (into / "quarantine").exists()


def test_a_merge_killed_between_its_two_files_can_be_rerun(tmp_path, monkeypatch):
    into = make_store(tmp_path / "into", [row("aaaa", "r1")])
    source = make_store(tmp_path / "src", [row("bbbb", "r2", "2026-01-02"), row("cccc", "r3", "2026-01-03")])
    real = maintenance.write_table

    def killed_after_epochs(path, columns, rows):
        if path.name == "runs.csv":
            raise KeyboardInterrupt
        real(path, columns, rows)

    monkeypatch.setattr(maintenance, "write_table", killed_after_epochs)
    with pytest.raises(KeyboardInterrupt):
        maintenance.merge([source], into)
    monkeypatch.undo()
    summary = maintenance.merge([source], into)
    assert summary.added == 2
    assert maintenance.check(into) == []
    assert n_lines(into / "epochs.csv") == 1 + 3 * 2
    assert len(Store(into).runs()) == 3


def test_merge_refuses_a_source_with_path_like_ids(tmp_path):
    source = make_store(tmp_path / "src", [row("aaaa", "r1")])
    text = (source / "runs.csv").read_text().replace("aaaa,r1", "../../../tmp/pwned,r1")
    (source / "runs.csv").write_text(text)
    into = make_store(tmp_path / "into", [row("bbbb", "r2")])
    before = snapshot(into)
    result = cli("store", "merge", source, "--into", into)
    assert result.exit_code == 1 and "is not an id" in one_error_line(result.output)
    assert snapshot(into) == before


# --- bench store migrate -----------------------------------------------------------------------

def test_migrate_refuses_a_manifest_that_understates_the_data(tmp_path):
    store = make_store(tmp_path / "s", [row("aaaa", "r1"), row("aaaa", "r2", "2026-01-02")])
    (store / "manifest.json").write_text(json.dumps({"schema_version": 1}))
    before = snapshot(store)
    result = cli("store", "migrate", "--store", store)
    assert result.exit_code == 1 and "added in a later schema" in one_error_line(result.output)
    assert snapshot(store) == before


def test_migrate_keeps_the_files_it_replaces(tmp_path):
    root = tmp_path / "s"
    root.mkdir()
    (root / "manifest.json").write_text(json.dumps({"schema_version": 1}))
    original = "run_id,status,label,test_acc\na,done,resnet18,0.5\na,done,resnet18,0.7\n"
    (root / "runs.csv").write_text(original)
    (root / "epochs.csv").write_text("run_id,epoch,val_acc\na,1,0.4\n")
    result = cli("store", "migrate", "--store", root)
    assert result.exit_code == 0 and "old files are in" in result.output
    [backup] = (root / "backup").iterdir()
    assert (backup / "runs.csv").read_text() == original
    assert json.loads((backup / "manifest.json").read_text())["schema_version"] == 1
    assert maintenance.check(root) == []


@pytest.mark.parametrize("manifest", ['{"schema_version": 1e308}', '{"schema_version": -3}',
                                      '{"schema_version": true}', '{"schema_version": "2"}', "[]"])
def test_out_of_range_manifests_are_one_line(tmp_path, manifest):
    store = make_store(tmp_path / "s", [row("aaaa", "r1")])
    (store / "manifest.json").write_text(manifest)
    for args in (["ls"], ["store", "check"], ["store", "migrate"]):
        result = cli(*args, "--store", store)
        assert result.exit_code == 1 and "manifest.json" in one_error_line(result.output)


def test_repair_keeps_a_symlinked_runs_csv_a_symlink(tmp_path):
    store = make_store(tmp_path / "s", [row("aaaa", "r1"), row("bbbb", "r2")])
    real = tmp_path / "elsewhere.csv"
    (store / "runs.csv").rename(real)
    (store / "runs.csv").symlink_to(real)
    with real.open("a") as f:
        f.write("garbage\n")
    result = cli("store", "check", "--store", store, "--repair")
    assert result.exit_code == 0, result.output
    assert (store / "runs.csv").is_symlink() and "garbage" not in real.read_text()
    assert len(Store(store).runs()) == 2


def test_a_non_json_confusion_matrix_is_not_sound(tmp_path):
    store = make_store(tmp_path / "s", [row("aaaa", "r1")])
    path = store / "runs.csv"
    path.write_text(path.read_text().replace('"[[1,0],[0,1]]"', "not-json"))
    result = cli("store", "check", "--store", store)
    assert result.exit_code == 1 and "confusion" in result.output


def test_a_lock_held_for_a_moment_is_waited_for_without_a_word(tmp_path):
    store = make_store(tmp_path / "s", [row("aaaa", "r1")])
    holder = subprocess.Popen([sys.executable, "-c", (
        "import time; from filelock import FileLock\n"
        f"lock = FileLock({str(store / '.lock')!r}); lock.acquire()\n"
        "print('held', flush=True); time.sleep(0.5); lock.release(); time.sleep(60)")], stdout=subprocess.PIPE,
        text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        result = CliRunner().invoke(main, ["store", "check", "--store", str(store), "--repair"])
        assert result.exit_code == 0 and result.output.strip() == "store is sound"  # no "waiting up to"
    finally:
        holder.kill()
        holder.wait()


def test_a_held_lock_says_who_holds_it_and_gives_up(tmp_path, monkeypatch):
    store = make_store(tmp_path / "s", [row("aaaa", "r1")])
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sys, time; from filelock import FileLock; from pathlib import Path\n"
        f"lock = FileLock({str(store / '.lock')!r}); lock.acquire()\n"
        f"Path({str(store / '.lock.owner')!r}).write_text('pid 4242 on testhost')\n"
        "print('held', flush=True); time.sleep(60)")], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        monkeypatch.setenv("BENCH_LOCK_WAIT", "0.5")
        before = snapshot(store)
        result = CliRunner().invoke(main, ["store", "check", "--store", str(store), "--repair"])
        assert result.exit_code == 1
        assert "waiting up to 0.5s" in result.output and "pid 4242 on testhost" in result.output
        assert "locked by pid 4242 on testhost" in result.output.splitlines()[-1]
        assert snapshot(store) == before
        monkeypatch.setenv("BENCH_LOCK_WAIT", "forever")
        result = CliRunner().invoke(main, ["store", "check", "--store", str(store), "--repair"])
        assert result.exit_code == 1 and "BENCH_LOCK_WAIT" in result.output
    finally:
        holder.kill()
        holder.wait()
