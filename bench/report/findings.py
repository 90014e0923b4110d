"""Findings computed from the stored runs, never written by hand: the best model per dataset
(chosen on validation accuracy) and the paired effect of each factor, each with its caveats."""

from __future__ import annotations

import itertools
import math
import re
import statistics

from bench.report import cells
from bench.spec import cell_key, training_run_key

# factor -> the spec fields it replaces when pairing runs; `label` stands for model + stem.
FACTORS = {
    "optimizer": ("optimizer",),
    "lr": ("lr",),
    "batch_size": ("batch_size",),
    "epochs": ("epochs",),
    "label": ("model", "stem"),
    "pin_memory": ("pin_memory",),
    # SVM hyperparameters (Q1(b)); degree only separates poly kernels; a kernel's level is its label
    # (svc-rbf, svc-poly3), so RBF meets every poly degree
    "kernel": ("kernel", "degree"),
    "C": ("C",),
    "gamma": ("gamma",),
    "degree": ("degree",),
    "n_train": ("n_train",),  # the SVM's training subsample: its learning curve
}
SVM_FACTORS = ("kernel", "C", "gamma", "degree", "n_train")
# The assignment's questions and the factors that answer them, in its order (Q2 is answered by its
# own table of paired devices, and the ResNet-SVM comparison by `svm_vs_resnet`).
QUESTIONS = (("Q1(a): what makes the ResNets accurate",
              ("optimizer", "lr", "batch_size", "label", "epochs", "pin_memory")),
             ("Q1(b): what makes the SVMs accurate", SVM_FACTORS))
FACTOR_NAMES = {"optimizer": "optimizer", "lr": "learning rate", "batch_size": "batch size", "epochs": "epochs",
                "label": "model (depth)", "pin_memory": "pin_memory (CUDA)", "kernel": "SVM kernel", "C": "SVM C",
                "gamma": "SVM gamma",
                "degree": "SVM poly degree",
                "n_train": "SVM training images"}
# A median paired difference within this many standard errors of zero is within run-to-run noise;
# the standard error is that of the median of n differences of two runs that differ only by seed.
NOISE_SES = 2.0
MEDIAN_SE = math.sqrt(math.pi / 2)  # a median of n normal draws varies about 1.25x as much as their mean
ALPHA = 0.05  # the sign test's level, where no repeats measure the spread


def level_label(factor: str, value) -> str:
    """How a level reads in a sentence: `Adam`, `lr 0.001`, `batch 32`, `10 epochs`."""
    if factor == "optimizer":
        return {"adam": "Adam", "sgd": "SGD"}.get(value, str(value))
    if factor == "lr":
        return f"lr {value:g}"
    if factor == "batch_size":
        return f"batch {value}"
    if factor == "epochs":
        return f"{value} epochs"
    if factor == "pin_memory":
        return f"pin_memory={str(value).lower()}"
    if factor == "n_train":
        return f"{value:,} training images"
    if factor == "kernel":
        return str(value).removeprefix("svc-").replace("poly", "poly degree ")
    if factor in SVM_FACTORS:
        return f"{factor}={value:g}" if isinstance(value, float) else f"{factor}={value}"
    return str(value)


def _order(value) -> tuple:
    return (str(type(value)), value if value is not None else "")


def _training_run(r: dict) -> tuple:
    """Cells that differ only in epochs share one training run (they are measured along it)."""
    return (r["preset"], training_run_key(r))


def one_per_run(found: list[tuple[dict, dict]]) -> list[tuple[dict, dict]]:
    """Pairs of the same two training runs at several epoch counts are one observation: keep the
    pair at the most epochs, so no run counts twice for a factor other than epochs."""
    longest: dict = {}
    for ra, rb in found:
        key = (_training_run(ra), _training_run(rb))
        if key not in longest or (ra["epochs"] or 0) > (longest[key][0]["epochs"] or 0):
            longest[key] = (ra, rb)
    return [longest[k] for k in sorted(longest, key=repr)]


def pairs(runs: list[dict], factor: str) -> dict[tuple, list[tuple[dict, dict]]]:
    """(preset, level a, level b) -> pairs of done runs (ResNets, or SVMs for SVM factors) of one
    preset that differ only in `factor`, one pair per independent training run."""
    kind = "svm" if factor in SVM_FACTORS else "resnet"
    pool = [r for r in cells.distinct(cells.sound(runs), per_preset=True)
            if r["kind"] == kind and r["test_acc"] is not None]
    if factor == "degree":
        pool = [r for r in pool if r["kernel"] == "poly"]
    if factor == "n_train":  # a run that does not record its size is no level of it
        pool = [r for r in pool if r["n_train"] is not None]
    if factor == "pin_memory":  # only on CUDA is pin_memory a factor at all; a timing: one host, no load
        pool = [r for r in pool if r["device"] == "cuda" and r["pin_memory"] is not None and cells.timed(r)]
    out: dict[tuple, list] = {}
    for members in cells.group(pool, FACTORS[factor]).values():
        by_place: dict = {}
        for r in members:
            level = r["label"] if factor == "kernel" else r[factor]
            by_place.setdefault((r["preset"], r.get("host_id") if factor == "pin_memory" else None), {})[level] = r
        for (preset, _), by_level in sorted(by_place.items(), key=repr):
            for a, b in itertools.combinations(sorted(by_level, key=_order), 2):
                if factor == "kernel" and a.startswith("svc-poly") == b.startswith("svc-poly"):
                    continue  # poly against poly is the degree factor
                out.setdefault((preset, a, b), []).append((by_level[a], by_level[b]))
    if kind == "resnet" and factor != "epochs":
        out = {levels: one_per_run(found) for levels, found in out.items()}
    return dict(sorted(out.items(), key=repr))


def sign_test(wins: int, losses: int) -> float:
    """Exact two-sided sign test: the chance of a split at least this uneven if either level were
    equally likely to win each untied pair (1.0 without untied pairs). scipy comes with scikit-learn;
    it is imported here, where its second of import time is spent only when a report is built."""
    if not wins + losses:
        return 1.0
    from scipy.stats import binomtest

    return float(binomtest(wins, wins + losses, 0.5).pvalue)


def noise_margin(sigma: dict, n: int) -> float | None:
    """pp within which the median of n paired differences lies by chance alone (None: spread unknown)."""
    if sigma["sd"] is None:
        return None
    return NOISE_SES * MEDIAN_SE * math.sqrt(2) * sigma["sd"] * 100 / math.sqrt(n)


# Cells that differ only in epochs are one run measured at two epoch counts, each at its best
# validation epoch so far: the longer cell chooses among more epochs, so its pairs are not
# independent runs and its win is partly built in.
NESTED = ("nested, not independent: each pair is one training run measured at both epoch counts, and the "
          "longer cell picks its best validation epoch among more epochs")


def caveat(diffs: list[float], sigma: dict, n: int) -> str | None:
    """Why a finding may not hold: a single pair, or a median paired difference that chance alone
    could give: within the run-to-run spread where repeats measure it, else by the sign test (also
    where the repeats show no spread at all, e.g. deterministic SVMs: a zero margin proves nothing)."""
    if n == 1:
        return "rests on a single paired cell"
    margin = noise_margin(sigma, n)
    if not margin:
        wins, losses = sum(d > 0 for d in diffs), sum(d < 0 for d in diffs)
        p = sign_test(wins, losses)
        if p >= ALPHA:
            return (f"could be chance: {wins} of {wins + losses} untied pairs is a sign-test p of {p:.2f}, and "
                    + ("no repeated runs measure the run-to-run spread" if margin is None else
                       "the repeated runs show no run-to-run spread"))
        return None
    if abs(statistics.median(diffs)) < margin:  # diffs are in pp
        return (f"within the run-to-run spread (±{margin:.2f} pp for a median of {n} pairs; "
                f"sd {sigma['sd'] * 100:.2f} pp over {sigma['cells']} repeated cells)")
    return None


def shared_across_presets(runs: list[dict]) -> list[str]:
    """Presets that hold runs with the very spec of another preset's runs (e.g. q2's resnet18 cells
    are q1a cells): their findings on those runs are not independent evidence."""
    presets: dict[tuple, set] = {}
    for r in cells.done(runs):
        presets.setdefault(cell_key(r), set()).add(r["preset"] or "")
    return sorted({p for found in presets.values() if len(found) > 1 for p in found})


def factor_findings(runs: list[dict]) -> list[dict]:
    """One finding per factor and pair of levels: who won how often, by how much (pp of test accuracy)."""
    found, spreads = [], {}
    for factor in FACTORS:
        kind = "svm" if factor in SVM_FACTORS else "resnet"
        for (preset, a, b), members in pairs(runs, factor).items():
            if (kind, preset) not in spreads:  # the noise of this preset's own repeats, never another preset's
                spreads[kind, preset] = cells.spread([r for r in runs if r["kind"] == kind and r["preset"] == preset])
            sigma = spreads[kind, preset]
            if factor == "pin_memory":  # % more time per image for level b (steady-state rates)
                diffs = [(cells.rate(ra) / cells.rate(rb) - 1) * 100 for ra, rb in members]
            else:
                diffs = [(ra["test_acc"] - rb["test_acc"]) * 100 for ra, rb in members]
            if statistics.median(diffs) < 0:  # state it from the winner's side
                a, b, diffs = b, a, [-d for d in diffs]
            found.append({
                "preset": preset, "factor": factor, "factor_name": FACTOR_NAMES[factor],
                "kind": "svm" if factor in SVM_FACTORS else "resnet",
                "metric": "time" if factor == "pin_memory" else "accuracy",
                "a": level_label(factor, a), "b": level_label(factor, b),
                "wins": sum(d > 0 for d in diffs), "ties": sum(d == 0 for d in diffs), "n": len(diffs),
                "median": statistics.median(diffs), "lo": min(diffs), "hi": max(diffs),
                "diffs": sorted(diffs), **_evidence(factor, members),
                "caveat": (("fewer than 3 pairs: the timing spread is unknown" if len(diffs) < 3 else None)
                           if factor == "pin_memory" else NESTED if factor == "epochs"
                           else caveat(diffs, sigma, len(diffs))),
            })
            found[-1]["flag"] = flag(found[-1]["caveat"])
    return found


def flag(caveat: str | None) -> str | None:
    """A caveat in a few words, for a table cell or an answer line (the whole caveat on hover and in
    the findings): its text before the first colon or parenthesis."""
    return re.split(r"[:(]", caveat, maxsplit=1)[0].strip() if caveat else None


def _evidence(factor: str, members: list[tuple[dict, dict]]) -> dict:
    """What a finding rests on: its runs (to link), the epochs its pairs were compared at (one pair
    per training run, at its longest) and, for epochs itself, how many of the longer cells were still
    improving (their best validation epoch was their last), which says more epochs may help further."""
    longer = [ra if ra["epochs"] > rb["epochs"] else rb for ra, rb in members] if factor == "epochs" else []
    return {"runs": sorted({r["run_id"] for pair in members for r in pair}),
            "at_epochs": sorted({r["epochs"] for pair in members for r in pair if r["epochs"]}),
            "improving": sum(r["best_epoch"] == r["epochs"] for r in longer), "longer": len(longer)}


def answers(found: list[dict]) -> list[dict]:
    """The findings grouped under the assignment's questions (`QUESTIONS`), factor by factor."""
    out = []
    for question, factors in QUESTIONS:
        own = [f for factor in factors for f in found if f["factor"] == factor]
        if own:
            out.append({"question": question, "findings": own})
    return out


def best_cells(runs: list[dict], kind: str | None = None) -> dict[str, dict]:
    """Per dataset, the best cell (spec over seeds) on validation (`cells.validation_rank`)."""
    best: dict[str, dict] = {}
    pool = [r for r in cells.done(runs) if r["val_acc"] is not None and (kind is None or r["kind"] == kind)]
    for members in cells.group(cells.distinct(pool)).values():
        val = cells.summary([m["val_acc"] for m in members])
        first = min(members, key=lambda m: m["run_id"])
        candidate = {
            "dataset": first["dataset"], "kind": first["kind"], "label": first["label"], "run": first,
            "runs": sorted(m["run_id"] for m in members), "val": val,
            "test": cells.summary([m["test_acc"] for m in members]),
            "pooled": cells.pooled_accuracy(members),
            "scale": {"n_train_images": cells.n_trained(first),
                      "n_val": first.get("n_val"), "n_test": first.get("n_test")},
            "f1": cells.summary([m["test_f1"] for m in members]),
            "caveat": "single run" if len(members) == 1 else None,
        }
        candidate["rank"] = cells.validation_rank(members)
        current = best.get(first["dataset"])
        if current is None or candidate["rank"] > current["rank"]:
            best[first["dataset"]] = candidate
    return dict(sorted(best.items()))


def best_by_kind(runs: list[dict]) -> dict[str, dict[str, dict]]:
    """Per kind ("resnet", "svm"), per dataset, the best cell chosen on validation accuracy among its
    own kind: their validation sets and training sizes differ, so they are never ranked against each other."""
    return {kind: best_cells(runs, kind) for kind in ("resnet", "svm")}


def best_per_kind(best: dict[str, dict[str, dict]]) -> list[dict]:
    """`best_by_kind`'s cells as one list, by dataset and kind."""
    return sorted((cell for by_dataset in best.values() for cell in by_dataset.values()),
                  key=lambda b: (b["dataset"], b["kind"]))


TEST_SPLIT = ("split", "data_seed", "test_size", "n_test")  # together they fix which images are tested


def _gap_margin(a: dict, b: dict, z: float = 1.96) -> float | None:
    """pp: the 95 % half-width of the difference of two accuracies measured on n test images each,
    taken as independent samples. On the same images the two are positively correlated, so the true
    (paired) interval is narrower: this one errs on the side of caution. None without n."""
    if a["acc"] is None or b["acc"] is None or not a["n"] or not b["n"]:
        return None
    return 100 * z * math.sqrt(a["acc"] * (1 - a["acc"]) / a["n"] + b["acc"] * (1 - b["acc"]) / b["n"])


def svm_vs_resnet(best: dict[str, dict[str, dict]]) -> list[dict]:
    """Per dataset, the best SVM against the best ResNet (`best_by_kind`), compared only when both
    were tested on the same images; otherwise the row says why not."""
    svm, resnet = best["svm"], best["resnet"]
    out = []
    for dataset in sorted(set(svm) & set(resnet)):
        s, r = svm[dataset], resnet[dataset]
        same = s["run"].get("test_size") is not None and all(s["run"].get(k) == r["run"].get(k) for k in TEST_SPLIT)
        single = [name for name, cell in (("ResNet", r), ("SVM", s)) if cell["caveat"]]
        diff = (r["test"]["mean"] - s["test"]["mean"]) * 100 if same else None
        margin = _gap_margin(r["pooled"], s["pooled"]) if same else None
        notes = ["within that interval: test sampling alone could give it"] if margin and abs(diff) < margin else []
        notes += (["each rests on a single run"] if len(single) == 2 else
                  [f"the {single[0]} rests on a single run"] if single else [])
        out.append({"dataset": dataset, "svm": s, "resnet": r, "comparable": same, "diff": diff, "margin": margin,
                    "caveat": "; ".join(notes) or None})
    return out
