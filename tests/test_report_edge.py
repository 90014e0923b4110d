"""Stores at the edges still render: no runs, only failures, one device, hostile free text;
and the pieces of the view model that the report's claims rest on."""

from __future__ import annotations

import math

import pandas as pd
import pytest
from fixtures.report.make_fixture import empty, failures_only, hostile, small

from bench.errors import BenchError
from bench.report import build, build_files, cells, commands, findings, q2
from bench.report.load import read
from bench.spec import training_run_key


def test_empty_store_renders(tmp_path):
    files = build_files(empty(tmp_path / "store"), pdf=False)
    index = files["index.html"]
    assert "The store holds no runs yet" in index
    assert 'id="q2"' not in index and 'id="q1a"' not in index  # no section for rows the store lacks
    assert not [name for name in files if name.startswith("runs/")]


def test_failures_only_render_with_messages(tmp_path):
    files = build_files(failures_only(tmp_path / "store"), pdf=False)
    index, listing = files["index.html"], files["runs.html"]
    assert "there is no best model" in index
    assert listing.count('class="status-diverged"') == 1 and listing.count('class="status-error"') == 1
    page = next(v for k, v in files.items() if k.startswith("runs/") and "synthetic failure" in v)
    assert "&lt;b&gt;not bold&lt;/b&gt;" in page


def test_hostile_tag_is_escaped_everywhere(tmp_path):
    store = hostile(tmp_path / "store")
    files = build_files(store, pdf=True)
    for name, text in files.items():
        if name.endswith(".html"):
            assert "<script>alert" not in text, name
    index = files["index.html"]
    assert "&lt;script&gt;alert(&#39;tag&#39;)&lt;/script&gt; {{ v.title }} {% if true %}x{% endif %}" in index
    assert files["report.pdf"].startswith(b"%PDF")
    assert files["data/runs.csv"] == (store / "runs.csv").read_bytes()  # the download is the store, unchanged
    assert b"<script>alert('tag')</script>" in files["data/runs.csv"]


def test_one_device_q2_names_missing_runs_and_command(tmp_path):
    study = read(small(tmp_path / "store"))
    section = q2.section(study.runs)
    assert section["devices"] == ["cpu"] and section["rows"]
    missing = section["missing"]
    assert missing["other"] == "cuda" and len(missing["runs"]) == 4
    assert missing["commands"] == ["bench run --preset q2 --datasets fashion --models resnet18,resnet32 "
                                   "--optimizers adam,sgd --lr 0.001 --batch-size 16 --epochs 2 --subset 2000 "
                                   "--test-size 0 --device cuda"]


def test_reproduce_command_from_stored_spec(tmp_path):
    study = read(small(tmp_path / "store"))
    run = next(r for r in study.runs if r["preset"] == "q1a" and r["optimizer"] == "adam" and r["lr"] == 1e-3
               and r["pin_memory"] and r["epochs"] == 3 and r["seed"] == 1)
    assert commands.reproduce(run) == ("bench run --preset q1a --datasets mnist --models resnet18 --optimizers adam "
                                       "--lr 0.001 --batch-size 32 --epochs 3 --pin-memory true --subset 2000 "
                                       "--test-size 0 --seed 1 --device cpu")


def test_best_model_is_chosen_on_validation_not_test(tmp_path):
    runs = read(small(tmp_path / "store")).runs
    svms = [r for r in runs if r["kind"] == "svm"]
    top_test = max(svms, key=lambda r: r["test_acc"])
    for r in svms:  # make the best-on-test run the worst on validation
        r["val_acc"] = 0.1 if r is top_test else r["test_acc"]
    best = findings.best_cells(svms)["mnist"]
    assert best["run"]["run_id"] != top_test["run_id"]
    assert best["run"]["run_id"] == max((r for r in svms if r is not top_test), key=lambda r: r["val_acc"])["run_id"]


def test_findings_carry_caveats(tmp_path):
    runs = read(small(tmp_path / "store")).runs
    found = findings.factor_findings(runs)
    optimizer = next(f for f in found if f["factor"] == "optimizer")
    # per preset, one pair per pair of training runs: the fixture's 2- and 3-epoch cells of one run
    # count once (they counted twice, pooled with q2, as 6 pairs before)
    assert optimizer["preset"] == "q1a" and optimizer["a"] == "Adam" and optimizer["n"] == 2
    q1a_runs = {(r["run_id"]) for r in runs if r["preset"] == "q1a"}
    pairs = findings.pairs(runs, "optimizer")[("q1a", "adam", "sgd")]
    assert all(a["run_id"] in q1a_runs and b["run_id"] in q1a_runs for a, b in pairs)
    assert len({training_run_key(a) for a, _ in pairs}) == len(pairs)  # one pair per training run
    assert any(f["preset"] == "q2" and f["factor"] == "optimizer" for f in found)
    assert optimizer["caveat"] and "run-to-run spread" in optimizer["caveat"]
    model = next(f for f in found if f["factor"] == "label")
    assert model["n"] == 2


def test_rebuild_replaces_old_site_but_not_foreign_folders(tmp_path):
    store = empty(tmp_path / "store")
    out = tmp_path / "site"
    build(store, out, pdf=False)
    (out / "stale.html").write_text("old")
    build(store, out, pdf=False)
    assert not (out / "stale.html").exists()
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep")
    with pytest.raises(BenchError):
        build(store, foreign, pdf=False)
    assert (foreign / "notes.txt").read_text() == "keep"


def test_wilson_interval_matches_a_hand_computation():
    # 96 of 100 right: centre (0.96 + 1.96²/200) / (1 + 1.96²/100), half-width from the score formula
    z = 1.96
    centre = (0.96 + z * z / 200) / (1 + z * z / 100)
    half = z * math.sqrt(0.96 * 0.04 / 100 + z * z / 40000) / (1 + z * z / 100)
    lo, hi = cells.wilson(0.96, 100)
    assert lo == pytest.approx(centre - half) and hi == pytest.approx(centre + half)
    assert (round(lo, 4), round(hi, 4)) == (0.9016, 0.9843)
    lo, hi = cells.wilson(0.95, 2000)
    assert hi - lo < 0.02  # ±1 pp at about 2,000 test images, as the study's test split needs
    assert cells.wilson(1.0, 10)[1] == 1.0 and cells.wilson(None, 10) is None


def _q2_run(device, host, seed, rate, **extra):
    return {"preset": "q2", "role": "devices", "kind": "resnet", "status": "done", "dataset": "fashion",
            "model": "resnet18",
            "stem": "standard", "label": "resnet18", "optimizer": "adam", "lr": 0.001, "batch_size": 32,
            "epochs": 2, "pin_memory": None, "amp": False, "device": device, "seed": seed, "data_seed": 0,
            "split": "random", "subset": 2000,
            "test_size": 2000, "host_id": host, "threads": 2, "steady_images_per_s": rate,
            "images_per_s": rate, "train_time_s": 1.0, "test_acc": 0.9, "achieved_flops": 1.0, "peak_flops": None,
            "device_name": device, "macs": 1, "params": 1, "load_start": 0.1, "load_end": 1.9,
            "run_id": f"{device}{host}{seed}", **extra}


def _timing(run_id, host, rate, started, low=None, high=None, **extra):
    return {"run_id": run_id, "host_id": host, "images_per_s": rate, "min_images_per_s": low or rate,
            "max_images_per_s": high or rate, "blocks": 5, "threads": 2, "concurrency": 1, "load_start": 0.1,
            "load_end": 0.2, "started_at": started, **extra}


def test_q2_speedup_pairs_one_hosts_timings_never_across_hosts():
    """Accuracies from whichever host trained each device; the speedup only from one host's `bench time`
    of both devices (the latest such host), never a CPU rate of one machine against a GPU of another,
    never a timing taken beside other work."""
    runs = [_q2_run("cpu", "hostA", 0, 100.0), _q2_run("cuda", "hostB", 0, 3000.0)]  # trained on two hosts
    timings = [_timing("cpuhostA0", "hostA", 100.0, "2026-12-01T00:00:00"),  # A has no GPU: no pair
               _timing("cudahostB0", "hostB", 3000.0, "2026-12-02T00:00:00", 2800.0, 3100.0),
               _timing("cpuhostA0", "hostB", 300.0, "2026-12-02T00:01:00", 290.0, 310.0),  # B timed its CPU too
               _timing("cpuhostA0", "hostC", 10.0, "2026-12-03T00:00:00", concurrency=2),  # beside others
               _timing("cudahostB0", "hostC", 9000.0, "2026-12-03T00:00:00")]
    (row,) = q2.section(runs, timings)["rows"]
    assert row["devices"]["cpu"]["hosts"] == ["hostA"] and row["devices"]["cuda"]["hosts"] == ["hostB"]
    assert row["devices"]["cpu"]["acc"]["mean"] == 0.9
    s = row["speedup"]
    assert (s["host"], s["median"], s["min"], s["max"]) == ("hostB", 10.0, 2800.0 / 310.0, 3100.0 / 290.0)
    assert row["timed"]["cpu"]["host"] == row["timed"]["cuda"]["host"] == "hostB"


def test_q2_without_a_host_that_timed_both_devices_has_no_speedup():
    runs = [_q2_run("cpu", "hostA", 0, 100.0), _q2_run("cuda", "hostB", 0, 3000.0)]
    timings = [_timing("cpuhostA0", "hostA", 100.0, "2026-12-01T00:00:00"),
               _timing("cudahostB0", "hostB", 3000.0, "2026-12-02T00:00:00")]
    section = q2.section(runs, timings)
    (row,) = section["rows"]
    assert row["speedup"] is None and section["n_paired"] == 0 and section["median_speedup"] is None
    assert row["timed"]["cpu"]["host"] == "hostA" and row["timed"]["cuda"]["host"] == "hostB"  # each its latest


def test_q2_shows_a_single_timing_with_the_range_of_its_blocks():
    """One seed per cell: the `bench time` row's own block range is the only spread there is."""
    runs = [_q2_run("cpu", "hostA", 0, 100.0)]
    timing = _timing("cpuhostA0", "hostA", 450.0, "2026-12-02T07:13:00+00:00", 401.0, 449.0)
    (row,) = q2.section(runs, [timing])["rows"]
    alone = row["timed"]["cpu"]
    assert (alone["median"], alone["low"], alone["high"], alone["blocks"], alone["threads"]) == (450.0, 401.0, 449.0,
                                                                                              5, 2)
    assert "low" not in row["timed"]["cuda"]  # nothing measured there



def test_a_derived_time_carries_the_spread_across_measurements_of_one_host_and_thread_count():
    """Two measurements of the cell on the run's host at 2 threads, minutes or machines apart: the
    time derives from the latest rate, the range from the blocks of both; a measurement at another
    thread count or beside other work stays out."""
    run = {**_q2_run("cpu", "hostA", 0, 100.0), "n_train_images": 1000, "n_val": 300, "n_test": 600, "epochs": 2}
    timings = [_timing("cpuhostA0", "hostA", 100.0, "2026-12-01T00:00:00", 95.0, 104.0),
               _timing("cpuhostA0", "hostA", 125.0, "2026-12-05T00:00:00", 120.0, 128.0),
               _timing("cpuhostA0", "hostA", 60.0, "2026-12-05T01:00:00", 58.0, 61.0, threads=1),
               _timing("cpuhostA0", "hostA", 10.0, "2026-12-06T00:00:00", concurrency=2)]
    rows = q2.timed_alone(run, timings)
    assert [t["images_per_s"] for t in rows] == [125.0, 100.0]  # the most threads, latest first
    derived = q2.derived_time(run, rows)
    cost = 2 * (1000 + 300 / 3) + 600 / 3  # training images plus evaluation at a third of their cost
    assert derived["measurements"] == 2 and (derived["host"], derived["threads"]) == ("hostA", 2)
    assert derived["median"] == pytest.approx(cost / 125.0)
    assert (derived["low"], derived["high"]) == (pytest.approx(cost / 128.0), pytest.approx(cost / 95.0))
    (row,) = q2.section([run], timings)["rows"]
    assert row["derived"]["cpu"]["measurements"] == 2 and row["derived"]["cpu"]["high"] == pytest.approx(cost / 95.0)

def test_run_page_axes_stay_within_valid_ranges():
    """A perfect run: the accuracy axis ends at 100 %, the loss axis starts at 0 (never 104 % or -0.10)."""
    import re

    from bench.report import charts

    rows = [{"epoch": e, "train_loss": loss, "val_loss": loss, "train_acc": acc, "val_acc": acc}
            for e, loss, acc in ((1, 0.3, 0.9), (2, 0.01, 1.0), (3, 0.0, 1.0))]
    labels = re.findall(r'text-anchor="end">([^<]+)<', str(charts.curves(rows)))
    assert "100%" in labels and "0.00" in labels
    assert not [t for t in labels if t.startswith("-") or (t.endswith("%") and float(t[:-1]) > 100)], labels


def test_cpu_q1a_tables_show_pin_memory_twins_once(tmp_path):
    """pin_memory true/false are one computation (on every device): one row per configuration, no pin
    column, and a cell's n counts seeds, not twins."""
    from bench.report import tables

    runs = read(small(tmp_path / "store")).runs
    (table,) = [t for t in tables.q1a_tables(runs) if t["dataset"] == "mnist"]
    assert all("pin_memory" not in r for r in table["rows"])
    assert len(table["rows"]) == 4  # sgd/adam x two learning rates, not x pin_memory
    counts = sorted(c["test"]["n"] for r in table["rows"] for c in r["cells"] if c)
    assert counts[-1] == 2 and counts.count(2) == 2  # the repeated adam 1e-3 cell: 2 seeds at 2 and 3 epochs
    html = (build(tmp_path / "store", tmp_path / "site", pdf=False), (tmp_path / "site" / "index.html").read_text())[1]
    q1a = html[html.index('id="q1a-mnist'):html.index("</table>", html.index('id="q1a-mnist'))]
    assert "<th>pin_memory</th>" not in q1a and "shown once" in html


def test_superseded_failures_are_counted_beside_the_latest_attempts(tmp_path):
    """A diverged attempt that a later attempt replaced is no longer an error of the study, but the
    overview still says it happened."""
    from bench.report import view
    from bench.store import Store

    root = small(tmp_path / "store")
    runs = Store(root).runs()
    failed = runs[runs["status"] == "diverged"].iloc[0].to_dict()
    retry = {k: (None if v is None or v is pd.NA or v != v else v) for k, v in failed.items()}
    retry.update(record_id="retry00000000001", status="done", message="")
    Store(root).append(retry, [])
    study = read(root)
    row = next(p for p in view.overview(study.runs, study.superseded)["presets"] if p["preset"] == "q1a")
    assert row["retried"] == 1 and row["diverged"] == 0


def test_repository_link_from_the_git_remote(tmp_path, monkeypatch):
    """The report links the project's repository: an ssh or https `origin` becomes its https
    address; no remote, no link; a non-https --repository is refused in one line."""
    from click.testing import CliRunner

    from bench import env
    from bench.cli import main

    for remote, web in (("git@github.com:lab/bench.git", "https://github.com/lab/bench"),
                        ("https://github.com/lab/bench.git", "https://github.com/lab/bench"),
                        ("/srv/git/bench", ""), ("", "")):
        monkeypatch.setattr(env, "_git", lambda *args, remote=remote: remote)
        assert env.repository_url() == web
    store = small(tmp_path / "store")
    monkeypatch.setattr(env, "_git", lambda *args: "git@github.com:lab/bench.git")
    result = CliRunner().invoke(main, ["report", "--store", str(store), "--out", str(tmp_path / "site"), "--no-pdf"])
    assert result.exit_code == 0, result.output
    assert '<a href="https://github.com/lab/bench">' in (tmp_path / "site" / "index.html").read_text()
    bad = CliRunner().invoke(main, ["report", "--store", str(store), "--out", str(tmp_path / "site"),
                                    "--repository", "javascript:alert(1)"])
    assert bad.exit_code != 0 and "must be an https:// address" in bad.output


def test_runs_whose_times_overlap_on_one_host_count_as_concurrent():
    """Two `bench run`s on one machine into two stores, merged later: each row says concurrency 1,
    but their spans overlap, so neither is timed alone. Cells of one training run (one start) and
    runs on other hosts or back to back do not count."""
    from bench.report.load import _overlaps

    def run(host, start, end, concurrency=1):
        return {"host_id": host, "started_at": f"2026-01-01T00:{start:02d}:00+00:00",
                "finished_at": f"2026-01-01T00:{end:02d}:00+00:00", "concurrency": concurrency}

    a, a_cell, b, c, d = run("h1", 0, 10), run("h1", 0, 12), run("h1", 5, 20), run("h2", 5, 20), run("h1", 20, 30)
    _overlaps([a, a_cell, b, c, d])
    assert (a["concurrency"], a_cell["concurrency"], b["concurrency"]) == (2, 2, 2)
    assert (c["concurrency"], d["concurrency"]) == (1, 1)  # another host; back to back with b
    assert not cells.alone({**b, "threads": 2})


def test_pairs_keep_every_seed_when_another_preset_holds_the_same_computation(tmp_path):
    """A q2 cell with the spec of a q1a cell is one computation on the CPU; the q2 findings must
    still pair all of q2's seeds (they lost the ones the q1a copy shadowed)."""
    runs = read(small(tmp_path / "store")).runs
    alone = findings.pairs(runs, "optimizer")
    shadows = [{**r, "preset": "shadow", "run_id": "s" + r["run_id"]} for r in runs if r["preset"] == "q2"]
    shadowed = findings.pairs(shadows[::2] + runs + shadows[1::2], "optimizer")
    q2_levels = next(k for k in alone if k[0] == "q2")
    assert len(shadowed[q2_levels]) == len(alone[q2_levels]) > 0
    assert len(shadowed[("shadow", *q2_levels[1:])]) == len(alone[q2_levels])


@pytest.mark.parametrize("diffs, sd, flagged", [
    ([4.45] * 61, 0.017, False),  # consistent over many pairs: far outside what seeds alone give
    ([4.0] * 2, 0.017, True),  # a median of 2 pairs: seeds alone give up to ±4.26 pp
    ([1.2, -9.95, 7.3, 0.5, 2.0, -1.0, 3.0, -2.0], 0.0283, True),
    ([30.0] * 24, None, False),  # no repeats: 24 of 24 untied pairs, sign test p < 1e-6
    ([0.6, 0.3], None, True),  # 2 of 2: sign test p = 0.5
    ([1.0] * 5, None, True),  # 5 of 5: p = 0.0625
    ([1.0] * 6 + [0.0], None, False),  # 6 of 6 untied: p = 0.031
])
def test_a_finding_is_flagged_only_when_chance_could_give_it(diffs, sd, flagged):
    sigma = {"sd": sd, "cells": 8 if sd else 0}
    assert (findings.caveat(diffs, sigma, len(diffs)) is not None) is flagged


def test_the_noise_margin_shrinks_with_the_square_root_of_the_pairs():
    sigma = {"sd": 0.017, "cells": 64}
    assert findings.noise_margin(sigma, 1) == pytest.approx(2 * math.sqrt(math.pi / 2) * math.sqrt(2) * 1.7)
    assert findings.noise_margin(sigma, 64) == pytest.approx(findings.noise_margin(sigma, 1) / 8)
    assert findings.noise_margin({"sd": None, "cells": 0}, 10) is None


@pytest.mark.parametrize("wins, losses, p", [(2, 0, 0.5), (5, 0, 0.0625), (6, 0, 0.03125), (24, 8, 0.0070),
                                             (4, 4, 1.0), (0, 0, 1.0)])
def test_the_sign_test_matches_the_binomial_tail(wins, losses, p):
    assert findings.sign_test(wins, losses) == pytest.approx(p, abs=5e-5)


def test_svm_training_size_is_a_factor_of_its_own(tmp_path):
    runs = read(small(tmp_path / "store")).runs
    svms = [r for r in runs if r["kind"] == "svm"]
    bigger = [{**r, "n_train": r["n_train"] * 2, "run_id": "b" + r["run_id"], "test_acc": r["test_acc"] + 0.01}
              for r in svms]
    found = [f for f in findings.factor_findings(runs + bigger) if f["factor"] == "n_train"]
    assert len(found) == 1 and found[0]["n"] == len(svms) and found[0]["wins"] == len(svms)
    assert found[0]["a"] == f"{svms[0]['n_train'] * 2:,} training images"
    assert found[0]["median"] == pytest.approx(1.0)
    assert not [f for f in findings.factor_findings(runs) if f["factor"] == "n_train"]  # one size: no finding


def test_the_best_resnet_and_best_svm_are_chosen_within_their_kind(tmp_path):
    """Their validation sets and training sizes differ: an SVM's higher validation accuracy must not
    hide the best ResNet (the overview cards and confusion matrices show one of each)."""
    runs = read(small(tmp_path / "store")).runs
    for r in runs:
        if r["kind"] == "svm" and r["val_acc"] is not None:
            r["val_acc"] = 0.999
    best = findings.best_per_kind(findings.best_by_kind(runs))
    assert [(b["dataset"], b["kind"]) for b in best] == [("fashion", "resnet"), ("mnist", "resnet"), ("mnist", "svm")]
    from bench.report.view import build as build_view

    view = build_view(read(small(tmp_path / "again")))
    assert {(b["dataset"], b["kind"]) for b in view["best"]} >= {("mnist", "resnet"), ("mnist", "svm")}


def test_the_heatmap_names_the_best_cell_on_validation_not_test(tmp_path):
    from bench.report import figures
    from bench.report.view import build as build_view

    view = build_view(read(small(tmp_path / "store")))
    grid = [r for r in view["runs"] if r["preset"] == "q1a" and r["dataset"] == "mnist" and r["status"] == "done"]
    top_test = max(grid, key=lambda r: r["test_acc"])
    for r in grid:  # the best run on test is the worst on validation
        r["val_acc"] = 0.01 if r["optimizer"] == top_test["optimizer"] and r["lr"] == top_test["lr"] else 0.9
    _, figs = figures.heatmap_figures(view)
    caption = next(f["caption"] for f in figs.values() if f["caption"].startswith("mnist"))
    named = caption.split("highest mean validation accuracy: ")[1]
    assert not named.startswith(f"{top_test['optimizer']}, lr {top_test['lr']:g},")
    expected = findings.best_cells(grid, "resnet")["mnist"]["run"]
    assert expected["val_acc"] == 0.9 and named.startswith(f"{expected['optimizer']}, lr {expected['lr']:g},")


def test_the_pareto_front_leaves_out_the_reference_and_names_svm_gamma(tmp_path):
    from bench.report import pareto

    runs = read(small(tmp_path / "store")).runs
    reference = [{**r, "preset": "reference", "role": "reference",
                  "subset": 0, "n_train_images": 49_000, "run_id": "r" + r["run_id"],
                  "test_acc": 0.999, "train_time_s": 1e-3} for r in runs if r["preset"] == "q1a"]
    pts = pareto.points(runs + reference, "mnist")
    assert pts and all(p["preset"] != "reference" for p in pts)
    assert all("gamma scale" in p["name"] for p in pts if p["kind"] == "svm")
    resnet = next(r for r in runs if r["preset"] == "q1a")
    assert pareto._sizes(pts) == f"training images: ResNets {cells.n_trained(resnet):,}, SVMs 1,000"


def test_key_results_state_each_comparison_once():
    from bench.report import summary

    def finding(preset, n, median, caveat=None):
        return {"preset": preset, "factor": "label", "a": "resnet18", "b": "resnet50", "metric": "accuracy",
                "n": n, "median": median, "caveat": caveat, "kind": "resnet"}

    effects = summary._factor_effects([finding("q2", 6, 12.1), finding("q1a", 32, 11.7),
                                       finding("q2x", 2, 30.0, "chance")], "resnet", {"q1a", "q2", "q2x"})
    assert [(f["preset"], f["noise"]) for f in effects] == [("q1a", False)]


def test_svm_heatmaps_never_average_two_training_sizes(tmp_path):
    from bench.report import figures
    from bench.report.view import build as build_view

    view = build_view(read(small(tmp_path / "store")))
    bigger = [{**r, "n_train": 2 * r["n_train"], "n_train_used": 2 * r["n_train"], "run_id": "b" + r["run_id"]}
              for r in view["svm"]]
    view["svm"] = view["svm"] + bigger
    files, figs = figures.svm_figures(view)
    assert len(figs) == 2 == len(files)
    assert [f["caption"].split(":")[0] for f in figs] == ["mnist, SVMs trained on 1,000 images",
                                                          "mnist, SVMs trained on 2,000 images"]


def test_the_resnet_svm_gap_carries_a_cautious_interval():
    a, b = {"acc": 0.93, "n": 2000}, {"acc": 0.96, "n": 2000}
    # hand computation: 1.96 * sqrt(.93 * .07 / 2000 + .96 * .04 / 2000) = 1.410 pp
    assert findings._gap_margin(a, b) == pytest.approx(1.410, abs=1e-3)
    assert findings._gap_margin(a, {"acc": None, "n": 0}) is None


def test_svms_without_a_recorded_size_are_no_level_of_it(tmp_path):
    runs = read(small(tmp_path / "store")).runs
    unsized = [{**r, "n_train": None, "run_id": "u" + r["run_id"]} for r in runs if r["kind"] == "svm"]
    assert not [f for f in findings.factor_findings(runs + unsized) if f["factor"] == "n_train"]


def test_repeats_without_any_spread_fall_back_to_the_sign_test():
    """Deterministic repeats give sd 0: a zero margin would let every finding through."""
    none = {"sd": 0.0, "cells": 2}
    assert "show no run-to-run spread" in findings.caveat([0.0, 0.0, 0.0], none, 3)
    assert findings.caveat([0.05, -0.05, 0.05], none, 3) is not None
    assert findings.caveat([1.0] * 8, none, 8) is None  # 8 of 8: p = 0.008


def test_key_results_take_the_comparison_with_the_most_pairs_whichever_level_won():
    from bench.report import summary

    def finding(preset, a, b, n, median, caveat=None):
        return {"preset": preset, "factor": "optimizer", "a": a, "b": b, "metric": "accuracy", "n": n,
                "median": median, "caveat": caveat, "kind": "resnet"}

    effects = summary._factor_effects([finding("q1a", "Adam", "SGD", 32, 0.4, "within the run-to-run spread"),
                                       finding("q2", "SGD", "Adam", 4, 3.0)], "resnet", {"q1a", "q2"})
    assert [(f["preset"], f["noise"]) for f in effects] == [("q1a", True)]


def test_pareto_names_the_svm_size_where_a_store_holds_two(tmp_path):
    from bench.report import pareto

    runs = read(small(tmp_path / "store")).runs
    bigger = [{**r, "n_train": 2 * r["n_train"], "n_train_used": 2 * r["n_train"], "run_id": "b" + r["run_id"]}
              for r in runs if r["kind"] == "svm"]
    names = [p["name"] for p in pareto.points(runs + bigger, "mnist") if p["kind"] == "svm"]
    assert len(names) == len(set(names)) and any(n.endswith(" n 2,000") for n in names)


def test_a_resnet_svm_gap_inside_its_interval_is_flagged(tmp_path):
    runs = read(small(tmp_path / "store")).runs
    best = {r["kind"]: r for r in runs if r["status"] == "done" and r["dataset"] == "mnist" and r["preset"] != "q2"}
    for r in runs:  # every SVM and ResNet of mnist within 0.1 pp of each other
        if r["dataset"] == "mnist" and r["test_acc"] is not None:
            r["test_acc"] = 0.950 if r["kind"] == "svm" else 0.951
    rows = findings.svm_vs_resnet(findings.best_by_kind(runs))
    assert best and rows[0]["caveat"].startswith("within that interval")


def test_presets_that_share_specs_are_named(tmp_path):
    runs = read(small(tmp_path / "store")).runs
    assert findings.shared_across_presets(runs) == []
    twin = next(r for r in runs if r["preset"] == "q2" and r["status"] == "done")
    assert findings.shared_across_presets(runs + [{**twin, "preset": "q1a", "run_id": "t"}]) == ["q1a", "q2"]


def test_degenerate_fits_are_flagged_and_kept_out_of_effects(tmp_path):
    runs = [r for r in read(small(tmp_path / "store")).runs if r["kind"] == "svm"]
    assert runs and not any(r["degenerate"] for r in runs)
    base = findings.pairs(runs, "C")
    collapsed = [[0] * 10 for _ in range(10)]
    for true_class in range(10):
        collapsed[true_class][3] = 20  # every image predicted as class 3: 10 % accuracy
    victim = dict(runs[0], confusion=collapsed)
    assert cells.degenerate(victim) == "degenerate fit: 100% of its test predictions are one class"
    learning = [[20 if i == j else 0 for j in range(10)] for i in range(10)]
    learning[0] = [2] * 10  # a weak but spread classifier is no degenerate fit
    assert cells.degenerate(dict(runs[0], confusion=learning)) is None
    assert cells.degenerate(dict(runs[0], n_support=runs[0]["n_train_used"])) == \
        "degenerate fit: every training image is a support vector"
    assert cells.degenerate(dict(victim, status="diverged")) is None  # a failure, not a fit
    victim["degenerate"] = cells.degenerate(victim)
    changed = findings.pairs([victim, *runs[1:]], "C")
    used = {id(r) for found in changed.values() for pair in found for r in pair}
    assert id(victim) not in used and sum(map(len, changed.values())) < sum(map(len, base.values()))


def test_a_users_own_presets_get_the_sections_their_rows_declare(tmp_path):
    """The report's sections come from the role each row stored (what its preset declared when it
    ran), never from preset names nor from preset files, which may be gone: a grid of one's own gets
    the Q1(a) tables and findings, a preset of devices the Q2 pairs."""
    store = small(tmp_path / "store")
    grid, devices = tmp_path / "my-grid.toml", tmp_path / "my-devices.toml"  # neither file exists here
    runs = (store / "runs.csv").read_text()
    (store / "runs.csv").write_text(runs.replace(",q1a,", f",{grid},").replace(",q2,", f",{devices},"))
    study = read(store)
    assert {r["role"] for r in study.runs if r["preset"] == str(grid)} == {"grid"}
    assert {r["role"] for r in study.runs if r["preset"] == str(devices)} == {"devices"}
    from bench.report import view as view_model

    view = view_model.build(study)
    assert {t["preset"] for t in view["q1a"]} == {str(grid)} and view["q2"]["rows"]
    assert {f["preset"] for f in view["findings"] if f["kind"] == "resnet"} >= {str(grid)}
    assert [a["question"] for a in view["answers"]][0].startswith("Q1(a)")


def test_a_preset_with_an_unknown_role_is_refused(tmp_path):
    from bench import presets

    path = tmp_path / "p.toml"
    path.write_text('role = "table"\n[[grid]]\nmodel = "resnet18"\n')
    with pytest.raises(BenchError, match="role must be one of grid, devices, reference"):
        presets.load(str(path))


def test_findings_answer_the_questions_rbf_meets_poly_and_epochs_say_who_was_still_improving(tmp_path):
    runs = read(small(tmp_path / "store")).runs
    found = findings.factor_findings(runs)
    kernels = [f for f in found if f["factor"] == "kernel"]
    assert kernels and all("rbf" in (f["a"], f["b"]) for f in kernels)  # poly against poly is the degree factor
    epochs = next(f for f in found if f["factor"] == "epochs" and f["preset"] == "q1a")
    longer = [r for r in runs if r["run_id"] in epochs["runs"] and r["epochs"] == 3]
    assert epochs["longer"] == len(longer) == epochs["n"]
    assert epochs["improving"] == sum(r["best_epoch"] == 3 for r in longer)
    optimizer = next(f for f in found if f["factor"] == "optimizer" and f["preset"] == "q1a")
    assert optimizer["at_epochs"] == [3] and len(optimizer["runs"]) == 2 * optimizer["n"]
    answers = findings.answers(found)
    assert [a["question"][:5] for a in answers] == ["Q1(a)", "Q1(b)"]
    assert {f["factor"] for f in answers[1]["findings"]} <= set(findings.SVM_FACTORS)


def test_confusion_matrices_name_their_classes():
    from bench.report import charts

    matrix = [[5 if i == j else 0 for j in range(10)] for i in range(10)]
    fashion, mnist = str(charts.confusion(matrix, "fashion")), str(charts.confusion(matrix, "mnist"))
    assert all(f">{name}</text>" in fashion for name in ("T-shirt/top", "Ankle boot", "Sneaker"))
    assert ">9</text>" in mnist and "Ankle" not in mnist


def test_pending_q2_cells_carry_no_host(tmp_path):
    html = build_files(small(tmp_path / "store"), pdf=False)["index.html"]
    q2_section = html[html.index('<section id="q2"'):html.index("</section>", html.index('<section id="q2"'))]
    cuda_rows = [row for row in q2_section.split("<tr>") if '<td class="nowrap">cuda' in row]
    assert cuda_rows and all("pending" in row and "host " not in row for row in cuda_rows)


def test_overlap_counting_by_bisection_matches_the_plain_scan():
    """`_overlaps` counts computations beside each run in O(log n); it must agree with the
    definition: other start times of the host whose span overlaps the run's."""
    import random

    from bench.report.load import _overlaps

    rng = random.Random(7)
    for _ in range(200):
        runs = []
        for _ in range(rng.randint(1, 12)):
            start, host = rng.randint(0, 50), rng.choice("ab")
            runs += [{"host_id": host, "started_at": f"{start:03d}", "concurrency": rng.choice([None, 1, 2]),
                      "finished_at": f"{start + rng.randint(0, 20):03d}"} for _ in range(rng.randint(1, 3))]
        spans: dict = {}
        for r in runs:
            key = (r["host_id"], r["started_at"])
            spans[key] = max(spans.get(key, ""), r["finished_at"])
        want = [max(r["concurrency"] or 1, 1 + sum(h == r["host_id"] and s != r["started_at"] and s < r["finished_at"]
                                                    and r["started_at"] < e for (h, s), e in spans.items()))
                for r in runs]
        _overlaps(runs)
        assert [r["concurrency"] for r in runs] == want


def test_pareto_names_never_overlap_even_where_front_points_crowd():
    """Six front cells within a few pixels of each other: each name finds a height of its own."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.text import Text

    from bench.report import pareto
    from bench.report.plotting import figure

    top = [{"time": 10 + i * 0.3, "acc": 80 + i * 0.1, "name": f"resnet18 adam lr 0.001 bs {16 + i} 10 ep"}
           for i in range(6)]
    fig, (ax,) = figure(1, 1, w=6.4, h=3.6)
    ax.scatter([p["time"] for p in top], [p["acc"] for p in top])
    ax.set_xscale("log")
    ax.set_xlim(1, 1000)  # the cells a few pixels apart, as on a study's full axes
    ax.set_ylim(0, 100)
    pareto._label(ax, top)
    renderer = FigureCanvasAgg(fig).get_renderer()
    for t in ax.texts:
        t.update_positions(renderer)
    boxes = [Text.get_window_extent(t, renderer) for t in ax.texts]  # the names, not their leader lines
    assert len(boxes) == len(top)
    assert not any(a.overlaps(b) for i, a in enumerate(boxes) for b in boxes[i + 1:])


def test_pareto_names_do_not_overlap_in_the_figure_as_saved(monkeypatch):
    """The committed study's MNIST front (2026-12-05), whose names overlapped in the report: they were
    placed before the axes got their final limits, which moved the points under them."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.text import Text

    from bench.report import pareto

    front = [(511, 97.94, "sgd lr 0.0001 bs 32 5"), (516, 98.68, "sgd lr 0.001 bs 32 5"),
             (788, 98.80, "adam lr 0.0001 bs 16 5"), (807, 98.99, "sgd lr 0.001 bs 16 5"),
             (1023, 99.04, "sgd lr 0.001 bs 32 10"), (1046, 99.14, "adam lr 0.001 bs 32 10"),
             (1600, 99.16, "sgd lr 0.001 bs 16 10")]
    pts = [{"label": "resnet18", "kind": "resnet", "name": f"resnet18 {name} ep", "preset": "q1a",
            "n_train": 49000, "acc": acc, "time": time, "hosts": [], "derived": False,
            "degenerate": False} for time, acc, name in front]
    pts += [{**pts[0], "name": "slow", "time": 4000.0, "acc": 97.1}]
    monkeypatch.setattr(pareto, "points", lambda runs, dataset, timings: pts)
    saved = []
    monkeypatch.setattr(pareto, "svg", lambda fig: saved.append(fig) or b"")
    pareto.figures({"runs": [{"dataset": "mnist", "status": "error"}], "timings": []})
    (fig,) = saved
    fig.draw_without_rendering()  # the layout as saving runs it
    renderer = FigureCanvasAgg(fig).get_renderer()
    texts = fig.axes[0].texts
    for t in texts:
        t.update_positions(renderer)
    boxes = [Text.get_window_extent(t, renderer) for t in texts]  # the names, not their leader lines
    assert len(boxes) == len(front)
    assert not any(a.overlaps(b) for i, a in enumerate(boxes) for b in boxes[i + 1:])


def test_the_pareto_caption_says_where_and_how_each_time_was_measured(monkeypatch):
    """Derived ResNet times are counted and told apart from own times timed alone; the caption names
    the host every time comes from, and warns where the points come from several machines."""
    from bench.report import pareto

    base = {"label": "resnet18", "kind": "resnet", "preset": "q1a", "n_train": 49000, "derived": False,
            "degenerate": False}
    own = [{**base, "name": "a", "time": 10.0, "acc": 90.0, "hosts": ["hostA"]},
           {**base, "name": "b", "time": 20.0, "acc": 91.0, "hosts": ["hostA"], "derived": True},
           {**base, "name": "c", "time": 30.0, "acc": 92.0, "hosts": ["hostA"], "derived": True}]

    def caption(pts):
        monkeypatch.setattr(pareto, "points", lambda runs, dataset, timings: pts)
        monkeypatch.setattr(pareto, "svg", lambda fig: b"")
        _, (fig,) = pareto.figures({"runs": [{"dataset": "mnist", "status": "error"}], "timings": []})
        return fig["caption"]

    one_host = caption(own)
    assert ("2 ResNet cells computed beside other work show the time derived from their timed-alone rate"
            in one_host)
    assert "every other point is its runs' own time, timed alone. Measured on host hostA." in one_host
    two_hosts = caption([own[0], {**own[1], "hosts": ["hostB"], "derived": False}])
    assert "Every point is its runs' own time, timed alone." in two_hosts and "derived" not in two_hosts
    assert "Measured on 2 machines (hostA, hostB): times compare only within one." in two_hosts
    assert "Hollow" not in one_host
    fastest_degenerate = caption(own + [{**own[0], "name": "d", "time": 1.0, "acc": 20.0, "degenerate": True}])
    assert "the 3 cells that no other cell beats" in fastest_degenerate  # not the degenerate one
    assert "Hollow: 1 degenerate fit (see the methodology), never on the front." in fastest_degenerate


def test_each_reproduce_command_stands_on_its_own_line(tmp_path):
    """The methodology's <pre>: a comment line with the count, then the command (never glued to it)."""
    import re

    html = build_files(small(tmp_path / "store"), pdf=False)["index.html"]
    block = re.search(r"<pre># (.*?)</pre>", html, re.S).group(1)
    lines = ("# " + block).splitlines()
    assert len(lines) >= 2 and len(lines) % 2 == 0
    assert all(re.fullmatch(r"# [\d,]+ stored runs?", c) and r.startswith("bench run --preset ")
               for c, r in zip(lines[::2], lines[1::2], strict=True)), lines


def test_q2_derives_a_loaded_runs_time_from_its_timed_alone_rate():
    """A CPU run trained beside another worker keeps its accuracy; its time comes from `bench time`:
    images trained ÷ rate plus evaluation at a third of a training image, with the blocks' range."""
    runs = [_q2_run("cpu", "hostA", 0, 100.0, concurrency=2, n_train_images=1000, n_val=90, n_test=300)]
    timing = _timing("cpuhostA0", "hostA", 100.0, "2026-12-02T07:13:00+00:00", 80.0, 125.0)
    (row,) = q2.section(runs, [timing])["rows"]
    assert row["devices"]["cpu"]["loaded"] == 1 and row["devices"]["cpu"]["time"]["n"] == 0
    derived = row["derived"]["cpu"]
    seconds = (2 * (1000 + 90 / 3) + 300 / 3) / 100  # 2 epochs, validation each, one test pass
    assert derived["median"] == pytest.approx(seconds) and derived["host"] == "hostA"
    assert derived["low"] == pytest.approx(seconds * 100 / 125) and derived["high"] == pytest.approx(seconds * 100 / 80)
    assert row["derived"]["cuda"] is None


def test_q1a_cells_show_the_time_derived_from_their_timed_alone_rate():
    """A Q1(a) cell trained beside another worker shows, under its accuracy, the time it costs alone
    from its computation's `bench time` rate; a cell without a rate shows none, a pending one none."""
    from bench.report import render, tables

    grid = {"preset": "q1a", "role": "grid", "val_acc": 0.9, "val_loss": 0.3, "n_val": 90, "n_test": 300,
            "n_train_images": 1000, "concurrency": 2}
    timed = _q2_run("cpu", "hostA", 0, 100.0, **grid, run_id="timed")
    untimed = _q2_run("cpu", "hostA", 0, 100.0, **{**grid, "lr": 0.0001}, run_id="untimed")
    pending = {**_q2_run("cpu", "hostA", 0, 100.0, **{**grid, "batch_size": 16}), "run_id": "later"}
    (table,) = tables.q1a_tables([timed, untimed], [pending],
                                 [_timing("timed", "hostA", 100.0, "2026-12-02T07:13:00+00:00", 80.0, 125.0)])
    by_lr = {(r["batch_size"], r["lr"]): r["cells"][0] for r in table["rows"]}
    seconds = (2 * (1000 + 90 / 3) + 300 / 3) / 100  # 2 epochs, validation each, one test pass
    derived = by_lr[(32, 0.001)]["derived"]
    assert derived["median"] == pytest.approx(seconds) and derived["high"] == pytest.approx(seconds * 100 / 80)
    assert by_lr[(32, 0.0001)]["derived"] is None and by_lr[(16, 0.001)]["pending"] and table["derived"]
    assert [render.minutes(x).replace(render.UNIT, " ") for x in (59, 90, 5400)] == ["59 s", "1.5 min", "90 min"]


def test_a_derived_time_range_is_printed_only_where_its_ends_differ_as_shown():
    from bench.report.render import UNIT, time_range

    assert time_range({"low": 780.0, "high": 800.0}) == ""  # '13 min (13 min–13 min)' said nothing
    assert time_range({"low": 780.0, "high": 900.0}) == f" (13–15{UNIT}min)"
    assert time_range({"low": 50.0, "high": 900.0}) == f" (50{UNIT}s–15{UNIT}min)"
