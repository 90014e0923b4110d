"""Every bad input a user can give gets a non-zero exit, one readable line (no traceback) and leaves
the store byte for byte as it was. Each case sets up its damage, then runs the real CLI in-process."""

from __future__ import annotations

import errno
import gzip
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from bench import data, store
from bench.cli import main
from bench.options import ENVIRONMENT_NOTICE
from bench.store import Store
from tests.conftest import write_idx

SVM_PRESET = '[[grid]]\nkind = "svm"\ndataset = "mnist"\nsubset = 100\nn_train = 50\n'
TINY_PRESET = '[[grid]]\nmodel = "resnet20"\ndataset = "mnist"\nsubset = 100\nbatch_size = 32\n\n' + SVM_PRESET


@pytest.fixture(autouse=True)
def one_thread(monkeypatch):
    """Tiny runs are fastest on one torch thread on a shared machine (the runner sizes its pool from this)."""
    monkeypatch.setenv("BENCH_THREADS", "1")


@dataclass
class Case:
    root: Path
    data: Path
    monkeypatch: pytest.MonkeyPatch

    @property
    def store(self) -> Path:
        return self.root / "results"

    def file(self, name: str, text: str | bytes) -> str:
        path = self.root / name
        path.write_bytes(text.encode() if isinstance(text, str) else text)
        return str(path)


def fake_row(run_id: str) -> dict:
    return {"run_id": run_id, "record_id": f"r-{run_id}", "status": "done", "kind": "resnet", "dataset": "mnist",
            "model": "resnet20", "label": "resnet20", "lr": 0.001, "epochs": 1, "test_acc": 0.5,
            "message": "a, \"quoted\" message", "finished_at": "2026-01-01T00:00:00+00:00"}


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def one_error_line(output: str) -> str:
    """The output's one line, the error; the notice of options read from the environment (the tests
    set BENCH_WORKERS, see conftest.py) is a line of its own, not part of the error."""
    lines = [line for line in output.splitlines() if line.strip() and not line.startswith(ENVIRONMENT_NOTICE)]
    assert "Traceback" not in output, output
    assert len(lines) == 1, output
    assert lines[0].startswith("Error: ") and len(lines[0]) < 400, lines[0]
    return lines[0]


def edit_csv(case: Case, name: str, edit) -> None:
    path = case.store / name
    path.write_text(edit(path.read_text()))


def damage_idx(case: Case, name: str, edit) -> None:
    path = case.data / "mnist" / f"{name}.gz"
    path.write_bytes(gzip.compress(edit(gzip.decompress(path.read_bytes())), mtime=0))


def replace_idx(case: Case, name: str, array: np.ndarray, magic: int) -> None:
    (case.data / "mnist" / f"{name}.gz").unlink()
    write_idx(case.data / "mnist" / name, array, magic)


def no_cuda(case: Case) -> None:
    if torch.cuda.is_available():
        pytest.skip("a CUDA GPU is visible: --device cuda is valid here")


# (id, extra arguments, setup(case) -> more arguments or None, text the error line must contain)
CASES = [
    ("unknown-model", ["--models", "resnet99"], None, "unknown model 'resnet99'"),
    ("unknown-dataset", ["--datasets", "cifar10"], None, "unknown dataset"),
    ("unknown-optimizer", ["--optimizers", "rmsprop"], None, "unknown optimizer"),
    ("unknown-preset", ["--preset", "smok"], None, "unknown preset 'smok'"),
    ("missing-preset-file", ["--preset", "nowhere/grid.toml"], None, "not found"),
    ("preset-typo", [], lambda c: ["--preset", c.file("p.toml", "[[grid]]\nmodle = 'resnet20'\n")],
     "did you mean 'model'"),
    ("preset-not-toml", [], lambda c: ["--preset", c.file("p.toml", "[[grid]\nmodel = \n")], "not valid TOML"),
    ("preset-not-utf8", [], lambda c: ["--preset", c.file("p.toml", b"\xff\xfe[[grid]]")], "cannot read preset"),
    ("preset-grid-not-table", [], lambda c: ["--preset", c.file("p.toml", "grid = [1, 2]\n")], "[[grid]] table"),
    ("preset-fractional-epochs", [], lambda c: ["--preset", c.file("p.toml", "[[grid]]\nepochs = 1.5\n")],
     "epochs must be a whole number"),
    ("preset-string-lr", [], lambda c: ["--preset", c.file("p.toml", "[[grid]]\nlr = 'fast'\n")],
     "lr must be a finite number"),
    ("lr-zero", ["--lr", "0"], None, "lr must be > 0"),
    ("lr-negative", ["--lr", "1e-3,-0.1"], None, "lr must be > 0"),
    ("lr-not-a-number", ["--lr", "fast"], None, "--lr: cannot read 'fast'"),
    ("lr-infinite", ["--lr", "inf"], None, "finite"),
    ("batch-zero", ["--batch-size", "0"], None, "batch_size must be from 1"),
    ("batch-negative", ["--batch-size", "-32"], None, "batch_size must be from 1"),
    ("batch-fraction", ["--batch-size", "1.5"], None, "--batch-size"),
    ("epochs-zero", ["--epochs", "0"], None, "epochs must be from 1"),
    ("subset-larger-than-data", ["--subset", "100000"], None, "training images of mnist"),
    ("subset-too-small", ["--subset", "10"], None, "too small"),
    ("subset-negative", ["--subset", "-5"], None, "subset must be"),
    ("subset-not-a-number", ["--subset", "lots"], None, "'lots' is not a valid integer"),
    ("repeats-zero", ["--repeats", "0"], None, "repeats must be from 1"),
    ("repeats-billions", ["--repeats", "1000000000"], None, "repeats must be from 1 to 1000"),
    ("seed-negative", ["--seed", "-1"], None, "seed must be from 0"),
    ("data-seed-beyond-32-bit", ["--data-seed", str(2**40)], None, "data_seed must be from 0"),
    ("batch-terabytes", ["--batch-size", "10000000000"], None, "batch_size must be from 1 to 65,536"),
    ("preset-empty-list", [], lambda c: ["--preset", c.file("p.toml", "[[grid]]\nlr = []\n")], "empty list"),
    ("shard-billions", ["--shard", "1/1000000000"], None, "K/N"),
    ("shard-too-many", ["--shard", "1/100000"], None, "N from 1 to 10,000"),
    ("shard-unicode-digits", ["--shard", "\u00b2/4"], None, "K/N"),
    ("shard-index-env-unicode-digit", ["--shard", "JOB_COMPLETION_INDEX/4"],
     lambda c: c.monkeypatch.setenv("JOB_COMPLETION_INDEX", "\u0663"), "not a 0-based index"),
    ("threads-beyond-c-int", [], lambda c: c.monkeypatch.setenv("BENCH_THREADS", str(2**70)), "BENCH_THREADS"),
    ("threads-zero", [], lambda c: c.monkeypatch.setenv("BENCH_THREADS", "0"), "BENCH_THREADS"),
    ("gzip-bomb", [], lambda c: damage_idx(c, "train-images-idx3-ubyte", lambda b: b + bytes(50_000_000)),
     "truncated or padded"),
    ("idx-declares-terabytes", [], lambda c: damage_idx(c, "train-images-idx3-ubyte",
                                                        lambda b: b[:4] + (2**31).to_bytes(4, "big") + b[8:]),
     "more than any MNIST-like"),
    ("lock-is-a-folder", [], lambda c: ((c.store / ".lock").unlink(missing_ok=True), (c.store / ".lock").mkdir()),
     "cannot write to the store"),
    ("claims-is-a-file", [], lambda c: c.file("results/claims", "x"), "cannot write to the store"),
    ("shard-malformed", ["--shard", "2-4"], None, "K/N"),
    ("shard-out-of-range", ["--shard", "5/4"], None, "between 1 and N"),
    ("shard-zero", ["--shard", "0/4"], None, "between 1 and N"),
    ("shard-index-env-not-a-number", ["--shard", "JOB_COMPLETION_INDEX/4"],
     lambda c: c.monkeypatch.setenv("JOB_COMPLETION_INDEX", "x"), "not a 0-based index"),
    ("device-unknown", ["--device", "tpu"], None, "'tpu' is not one of"),
    ("device-cuda-without-gpu", ["--device", "cuda"], no_cuda, "no CUDA GPU"),
    ("unknown-option", ["--learning-rate", "1"], None, "No such option"),
    ("threads-not-a-number", [], lambda c: c.monkeypatch.setenv("BENCH_THREADS", "many"), "BENCH_THREADS"),
    ("data-dir-missing", [], lambda c: ["--data-dir", str(c.root / "no-such-dir")], "does not exist"),
    ("data-file-missing", [], lambda c: (c.data / "mnist" / "t10k-labels-idx1-ubyte.gz").unlink(), "missing mnist"),
    ("idx-truncated", [], lambda c: damage_idx(c, "train-images-idx3-ubyte", lambda b: b[:-100]), "truncated"),
    ("idx-wrong-magic", [], lambda c: damage_idx(c, "train-labels-idx1-ubyte", lambda b: b"\0\0\x08\x03" + b[4:]),
     "wrong magic"),
    ("idx-checksum-mismatch", [], lambda c: c.monkeypatch.setattr(
        data, "SHA256", {("mnist", "t10k-images-idx3-ubyte"): "0" * 64}), "sha256"),
    ("idx-count-mismatch", [], lambda c: replace_idx(c, "t10k-labels-idx1-ubyte", np.arange(39) % 10, 2049),
     "39 labels"),
    ("idx-labels-out-of-range", [], lambda c: replace_idx(c, "train-labels-idx1-ubyte", np.full(120, 42), 2049),
     "outside 0..9"),
    ("idx-not-28x28", [], lambda c: replace_idx(c, "t10k-images-idx3-ubyte", np.zeros((40, 28, 29)), 2051),
     "28x29"),
    ("gzip-corrupt", [], lambda c: (c.data / "mnist" / "train-images-idx3-ubyte.gz").write_bytes(
        gzip.compress(b"x" * 5000)[:20] + b"\xff" * 200), "cannot read"),
    ("store-newer-schema", [], lambda c: (c.store / "manifest.json").write_text('{"schema_version": 99}'),
     "upgrade bench"),
    ("store-older-schema", [], lambda c: (c.store / "manifest.json").write_text('{"schema_version": 1}'),
     "bench store migrate"),
    ("manifest-corrupt", [], lambda c: (c.store / "manifest.json").write_text('{"schema_vers'), "manifest.json"),
    ("manifest-not-an-object", [], lambda c: (c.store / "manifest.json").write_text("[2]"), "manifest.json"),
    ("csv-column-removed", [], lambda c: edit_csv(c, "runs.csv", lambda t: "\n".join(
        line.split(",", 1)[1] for line in t.splitlines()) + "\n"), "missing run_id"),
    ("csv-unknown-column", [], lambda c: edit_csv(c, "epochs.csv", lambda t: t.replace("\n", ",extra\n", 1)),
     "unknown extra"),
    ("csv-short-line", [], lambda c: edit_csv(c, "runs.csv", lambda t: t.replace("\n", "\nb,r-b,done\n", 1)),
     "runs.csv:2: 3 fields"),
    ("csv-value-not-a-number", [], lambda c: edit_csv(c, "runs.csv", lambda t: t.replace("0.001", "fast")),
     "column lr: 'fast' is not a number"),
    ("csv-not-utf8", [], lambda c: (c.store / "runs.csv").write_bytes(b"\xff\xfe\x00r"), "cannot read"),
    ("store-is-a-file", [], lambda c: ["--store", c.file("results.txt", "not a folder")], "is a file"),
    ("store-under-a-file", [], lambda c: ["--store", str(Path(c.file("f", "x")) / "results")], "cannot write there"),
    ("artifacts-is-a-file", [], lambda c: ["--artifacts", c.file("weights", "x")], "is a file"),
]


@pytest.fixture
def case(tmp_path, tiny_data, monkeypatch) -> Case:
    case = Case(tmp_path, tiny_data, monkeypatch)
    case.file("tiny.toml", TINY_PRESET)
    s = Store(case.store, create=True)
    s.append(fake_row("a"), [{"run_id": "a", "record_id": "r-a", "epoch": 1, "val_acc": 0.5}])
    return case


def run_cli(case: Case, args: list[str]):
    base = ["run", "--preset", str(case.root / "tiny.toml"), "--store", str(case.store), "--data-dir",
            str(case.data), "--artifacts", str(case.root / "artifacts"), "--quiet"]
    return CliRunner().invoke(main, base + args)


@pytest.mark.parametrize(("args", "setup", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_is_one_line_and_leaves_the_store_alone(case, args, setup, expected):
    more = setup(case) if setup else None
    before = snapshot(case.root)
    result = run_cli(case, args + (more if isinstance(more, list) else []))
    assert result.exit_code != 0 and isinstance(result.exception, SystemExit), result.output
    assert expected in one_error_line(result.output)
    assert snapshot(case.root) == before


def test_bad_input_does_not_create_a_store(tmp_path, tiny_data):
    result = CliRunner().invoke(main, ["run", "--store", str(tmp_path / "new"), "--data-dir", str(tiny_data),
                                       "--models", "resnet99"])
    assert result.exit_code == 1 and not (tmp_path / "new").exists()


@pytest.mark.parametrize("args", [
    ["frobnicate"],
    ["ls", "--store", "{root}/nowhere"],
    ["ls", "--store", "{root}/results", "--frobnicate"],
    ["store", "check", "--store", "{root}/nowhere"],
    ["store", "merge", "{root}/nowhere", "--into", "{root}/results"],
    ["store", "migrate", "--store", "{root}/nowhere"],
], ids=["unknown-command", "ls-not-a-store", "ls-unknown-option", "check-not-a-store", "merge-missing-source",
        "migrate-not-a-store"])
def test_other_commands_fail_in_one_line(case, args):
    before = snapshot(case.root)
    result = CliRunner().invoke(main, [a.format(root=case.root) for a in args])
    assert result.exit_code != 0 and isinstance(result.exception, SystemExit), result.output
    one_error_line(result.output)
    assert snapshot(case.root) == before


def test_disk_full_on_append_stores_nothing_and_says_so(case, monkeypatch):
    def full(path, text):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(store, "append_durably", full)  # the store binds it from bench.csvfile
    before = snapshot(case.root)
    result = run_cli(case, [])
    assert result.exit_code == 1 and "Traceback" not in result.output
    errors = [line for line in result.output.splitlines() if line.startswith("Error: ")]
    assert len(errors) == 1 and "No space left on device" in errors[0] and "not stored" in errors[0]
    assert {k: v for k, v in snapshot(case.root).items() if not k.startswith("artifacts/")} == before


def test_torn_last_line_is_quarantined_and_the_run_resumes(case):
    """What a crash mid-write leaves is not the user's fault: the run goes on, says what it did, and
    keeps the partial line in quarantine/ (nothing is lost, nothing half-written is trusted)."""
    path = case.store / "runs.csv"
    good = path.read_text()
    torn = "deadbeef,r-torn,done,,smoke,,resnet20,resnet,mni"
    path.write_text(good + torn)
    result = run_cli(case, [])
    assert result.exit_code == 0, result.output
    assert "runs.csv ended with an interrupted write" in result.output and "Traceback" not in result.output
    text = path.read_text()
    assert text.startswith(good) and torn not in text and text.count("\n") == good.count("\n") + 2
    quarantined = "".join(p.read_text() for p in (case.store / "quarantine").iterdir())
    assert quarantined.splitlines()[1] == torn
    runs = Store(case.store).runs()
    assert "a" in set(runs["run_id"]) and len(runs) == 3 and set(runs["status"]) == {"done"}


def test_stored_rows_name_no_home_directory(tmp_path, tiny_data, monkeypatch):
    """A preset path or an error message under $HOME is stored with `~` instead."""
    home = tmp_path / "home" / "alice"
    preset = home / "study" / "grid.toml"
    preset.parent.mkdir(parents=True)
    preset.write_text(SVM_PRESET)
    monkeypatch.setenv("HOME", str(home))
    result = CliRunner().invoke(main, ["run", "--preset", str(preset), "--store", str(tmp_path / "s"),
                                       "--data-dir", str(tiny_data), "--quiet", "--artifacts", str(home / "a")])
    assert result.exit_code == 0, result.output
    text = (tmp_path / "s" / "runs.csv").read_text()
    assert str(home) not in text and "~/study/grid.toml" in text
    assert json.loads((tmp_path / "s" / "manifest.json").read_text())["schema_version"] >= 2


def test_no_shell_and_no_eval_in_bench():
    """User text never reaches a shell: no shell=True, os.system/popen, eval/exec; subprocess args are lists."""
    import ast

    offences = []
    for path in sorted(Path(__file__).resolve().parents[1].joinpath("bench").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if not isinstance(node, ast.Call):
                continue
            name = ast.unparse(node.func)
            where = f"{path.name}:{node.lineno} {name}"
            if name in ("os.system", "os.popen", "eval", "exec", "os.execl", "os.spawnl"):
                offences.append(where)
            if any(k.arg == "shell" and not (isinstance(k.value, ast.Constant) and k.value.value is False)
                   for k in node.keywords):
                offences.append(f"{where} shell=")
            if name.startswith("subprocess.") and node.args and not isinstance(node.args[0], ast.List):
                offences.append(f"{where} with a command that is not a list")
    assert offences == []


def test_a_group_without_a_command_still_shows_its_help():
    result = CliRunner().invoke(main, ["store"])
    assert "Commands:" in result.output and "check" in result.output and "Error" not in result.output


@pytest.mark.parametrize("cache", [b"{not json", b"\xff\xfe", b"[1, 2]", b'{"k": "fast", "j": -1.0, "n": NaN}'])
def test_a_corrupt_calibration_cache_is_ignored(tmp_path, monkeypatch, cache):
    from bench import estimate

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    estimate.cache_path().parent.mkdir(parents=True)
    estimate.cache_path().write_bytes(cache)
    assert estimate._load_cache() == {}
