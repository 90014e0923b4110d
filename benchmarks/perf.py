"""Training throughput of bench against the bare compute rate and a notebook-style pipeline.

Run by `make perf` (not a test). In one process, same machine, same model/batch/optimizer/data:
  (s) the step alone, side by side: the step bench ran before it measured (channels_last, torch's
      default optimizer) against the step it chooses here (bench.step_config), for resnet18 and
      resnet50 at batch 16 and 32 with Adam and SGD, interleaved blocks, ratio with its spread;
  (a) bare: the chosen training step on random tensors (the compute bound), in fp32 and in bf16;
  (b) bench: bench's own epoch through its real data path (train.train_group);
  (c) notebook: torchvision dataset with ToTensor/Normalize per sample, ConcatDataset + random_split,
      DataLoader(shuffle, 2 workers), eval on val every epoch;
  (d) bench --amp (bf16 autocast on CPU);
  (e) a small q1a-shaped grid (epochs {1, 2} x pin_memory {true, false}) through bench (shared
      computation) against the notebook pipeline run cell by cell;
  (f) `bench plan`'s estimate of (e) against its actual time.
Each of (a)-(d) is the median of --repeats repetitions. Results go to stdout and a CSV.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import ConcatDataset, DataLoader, random_split
from torchvision import datasets, transforms

from bench import clock, data, env, estimate, models, plan, precision, step_config, train
from bench.data import Stats
from bench.spec import RunSpec
from bench.step_config import LEGACY, StepConfig

BLOCK_STEPS, STEP_BLOCKS = 10, 5


def _step_fn(spec: RunSpec, config: StepConfig, stats: Stats):
    """One training step of `spec` in `config` on a fixed random batch normalised with `stats` (the
    training images' statistics, as a run normalises), as a function."""
    torch.manual_seed(0)
    model = models.build(spec.model).to(memory_format=config.torch_format).train()
    opt = step_config.optimizer(model.parameters(), spec, config)
    x = torch.randint(0, 256, (spec.batch_size, 28, 28), dtype=torch.uint8)
    x = stats.normalise(x, config.torch_format)
    y = torch.randint(0, 10, (spec.batch_size,))
    scaler = precision.grad_scaler(spec)
    return lambda: step_config.step(model, opt, scaler, spec, x, y)


def bare_rate(spec: RunSpec, config: StepConfig, stats: Stats, steps: int = BLOCK_STEPS, blocks: int = 3) -> float:
    """Images/s of the training step alone on random tensors (median of timed blocks)."""
    return spec.batch_size / clock.median_seconds(_step_fn(spec, config, stats), "cpu", 3, steps, blocks)


def chosen(spec: RunSpec, stats: Stats) -> StepConfig:
    """The configuration `bench run` measures to be fastest here for this cell's shape (its trials
    on a random batch normalised with `stats`)."""
    torch.manual_seed(0)
    model = models.build(spec.model)
    x = stats.normalise(torch.randint(0, 256, (spec.batch_size, 28, 28), dtype=torch.uint8))
    y = torch.randint(0, 10, (spec.batch_size,))
    return step_config.fastest(model, spec, x, y, step_config.candidates(spec.device, spec.amp))[0]


def step_table(rows: list[dict], stats: Stats) -> None:
    """(s): before and chosen, blocks interleaved so that drift hits both alike."""
    print(f"(s) the step alone: images/s, median of {STEP_BLOCKS} blocks of {BLOCK_STEPS} steps each, blocks "
          "interleaved; ratio = chosen / before (range: per-block ratios)")
    for model in ("resnet18", "resnet50"):
        for batch in (16, 32):
            for optimizer in ("adam", "sgd"):
                spec = RunSpec(model=model, batch_size=batch, optimizer=optimizer)
                best = chosen(spec, stats)
                fns = {"before": _step_fn(spec, LEGACY, stats), "chosen": _step_fn(spec, best, stats)}
                for fn in fns.values():
                    clock.block_seconds(fn, "cpu", 3, 0, 0)  # warm-up
                secs = {k: [] for k in fns}
                for _ in range(STEP_BLOCKS):
                    for name, fn in fns.items():
                        secs[name] += clock.block_seconds(fn, "cpu", 0, BLOCK_STEPS, 1)
                rate = {k: [batch / t for t in v] for k, v in secs.items()}
                ratios = [c / b for b, c in zip(rate["before"], rate["chosen"], strict=True)]
                med = {k: statistics.median(v) for k, v in rate.items()}
                print(f"    {model:9} b{batch:<3} {optimizer:5} before {med['before']:7.1f}  chosen "
                      f"{med['chosen']:7.1f} ({best})  ratio {med['chosen'] / med['before']:.2f}x "
                      f"({min(ratios):.2f}-{max(ratios):.2f})", flush=True)
                rows.append({"measure": f"(s) {model} b{batch} {optimizer} before ({LEGACY})",
                             "images_per_s": round(med["before"], 1), "n": STEP_BLOCKS,
                             "min": round(min(rate["before"]), 1), "max": round(max(rate["before"]), 1)})
                rows.append({"measure": f"(s) {model} b{batch} {optimizer} chosen ({best})",
                             "images_per_s": round(med["chosen"], 1), "n": STEP_BLOCKS,
                             "min": round(min(rate["chosen"]), 1), "max": round(max(rate["chosen"]), 1)})


def bench_epoch(spec: RunSpec, ds, split) -> tuple[float, float]:
    """(train images/s, test accuracy) of bench's own path for one cell."""
    result = train.train_group([spec], ds, split)[0]
    return result.metrics["images_per_s"], result.metrics["test_acc"]


def notebook_root(data_dir: Path) -> Path:
    """torchvision's MNIST layout (decompressed raw files) made from our IDX folder."""
    root = Path(tempfile.mkdtemp(prefix="bench-perf-"))
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for name in data.FILES.values():
        src = data_dir / "mnist" / f"{name}.gz"
        (raw / name).write_bytes(gzip.decompress(src.read_bytes()) if src.exists() else
                                 (data_dir / "mnist" / name).read_bytes())
    return root


def notebook_cell(root: Path, spec: RunSpec, subset: int) -> tuple[float, float, float]:
    """The hand-written pipeline: (train images/s, test accuracy, wall seconds for the cell)."""
    wall = time.perf_counter()
    tf = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.1307,), (0.3081,))])
    full = ConcatDataset([datasets.MNIST(str(root), train=t, download=False, transform=tf) for t in (True, False)])
    gen = torch.Generator().manual_seed(spec.seed)
    if subset:
        full, _ = random_split(full, [subset, len(full) - subset], generator=gen)
    n = len(full)
    tr, va, te = random_split(full, [int(0.7 * n), int(0.1 * n), n - int(0.7 * n) - int(0.1 * n)], generator=gen)
    loader = DataLoader(tr, batch_size=spec.batch_size, shuffle=True, num_workers=2, pin_memory=bool(spec.pin_memory))
    torch.manual_seed(spec.seed)
    model = models.build(spec.model)
    opt = torch.optim.Adam(model.parameters(), lr=spec.lr) if spec.optimizer == "adam" else \
        torch.optim.SGD(model.parameters(), lr=spec.lr, momentum=0.9)
    train_time = seen = 0.0
    for _ in range(spec.epochs):
        model.train()
        start = time.perf_counter()
        for x, y in loader:
            loss = nn.functional.cross_entropy(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            seen += len(y)
        train_time += time.perf_counter() - start
        accuracy(model, va)
    return seen / train_time, accuracy(model, te), time.perf_counter() - wall


def notebook_grid(root: Path, grid: list[RunSpec], grid_subset: int) -> list[tuple[float, float, float]]:
    """(e)'s notebook half: each cell of `grid` through the hand-written pipeline, one after another."""
    # the notebook splits its subset 70/10/20: give it the images whose 70 % is bench's training set
    return [notebook_cell(root, s, round(grid_subset / 0.7)) for s in grid]


def accuracy(model, part) -> float:
    model.eval()
    correct = 0
    with torch.no_grad():
        for x, y in DataLoader(part, batch_size=256, num_workers=2):
            correct += (model(x).argmax(1) == y).sum().item()
    return correct / len(part)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=data.default_data_dir(),
                        required=data.default_data_dir() is None)
    parser.add_argument("--model", default="resnet18")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--subset", type=int, default=10_000, help="images (0: all 70k, ~3 min per epoch here)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--grid-subset", type=int, default=4_900, help="training images of the (e) grid")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/perf.csv"))
    parser.add_argument("--notebook-grid", action="store_true",
                        help="only (e)'s notebook half, as its own process (benchmarks/workers.py times it)")
    args = parser.parse_args()
    clock.use_threads()
    spec = RunSpec(model=args.model, batch_size=args.batch_size, optimizer="adam", lr=1e-3, epochs=1,
                   subset=args.subset)
    grid = [spec.replace(subset=args.grid_subset, epochs=e, pin_memory=p) for e in (1, 2) for p in (True, False)]
    root = notebook_root(args.data_dir)
    try:
        if args.notebook_grid:
            nb = notebook_grid(root, grid, args.grid_subset)
            print(f"(e) notebook cell by cell {sum(w for _, _, w in nb):.1f}s, test acc {[round(x[1], 4) for x in nb]}")
        else:
            measure(args, spec, grid, root)
    finally:
        shutil.rmtree(root)  # the decompressed MNIST copy


def measure(args: argparse.Namespace, spec: RunSpec, grid: list[RunSpec], root: Path) -> None:
    """(s) and (a)-(f), printed and written to `args.out`."""
    ds = data.load("mnist", args.data_dir)
    split = data.split(ds, "random", args.subset, 0)
    rows = []

    def record(name: str, rates: list[float], accs: list[float] | None = None) -> float:
        median = statistics.median(rates)
        acc = statistics.median(accs) if accs else None
        rows.append({"measure": name, "images_per_s": round(median, 1), "test_acc": acc,
                     "n": len(rates), "min": round(min(rates), 1), "max": round(max(rates), 1)})
        print(f"{name:28} {median:8.1f} img/s  (n={len(rates)}, {min(rates):.1f}..{max(rates):.1f})"
              + (f"  test_acc={acc:.4f}" if acc is not None else ""), flush=True)
        return median

    stats = data.training_stats(ds, split)  # the random batches are normalised as bench's run normalises
    step_table(rows, stats)
    bench_epoch(spec.replace(subset=500), ds, data.split(ds, "random", 500, 0))  # warm-up, discarded
    best = chosen(spec, stats)
    a = record(f"(a) bare compute ({best})", [bare_rate(spec, best, stats) for _ in range(args.repeats)])
    record(f"(a) bare compute, bf16 ({best})",
           [bare_rate(spec.replace(amp=True), best, stats) for _ in range(args.repeats)])
    runs = [bench_epoch(spec, ds, split) for _ in range(args.repeats)]
    b = record("(b) bench data path", [r for r, _ in runs], [acc for _, acc in runs])
    runs = [notebook_cell(root, spec, args.subset)[:2] for _ in range(args.repeats)]
    c = record("(c) notebook pipeline", [r for r, _ in runs], [acc for _, acc in runs])
    amp = spec.replace(amp=True)
    runs = [bench_epoch(amp, ds, split) for _ in range(args.repeats)]
    d = record("(d) bench --amp (bf16)", [r for r, _ in runs], [acc for _, acc in runs])
    print(f"ratios: b/a = {b / a:.2f} (target >= 0.9), b/c = {b / c:.2f} (target >= 1.3), "
          f"d/b = {d / b:.2f} (target >= 1.3)")

    cells = plan.cells_of(grid)
    predicted = plan.total(cells, estimate.seconds(cells))
    start = time.perf_counter()
    gsplit = data.split(ds, "random", args.grid_subset, 0)
    bench_results = train.train_group(grid, ds, gsplit)
    bench_wall = time.perf_counter() - start
    nb = notebook_grid(root, grid, args.grid_subset)
    nb_wall = sum(w for _, _, w in nb)
    print(f"(e) q1a-shaped grid of 4 cells: bench {bench_wall:.1f}s, notebook cell by cell {nb_wall:.1f}s, "
          f"{nb_wall / bench_wall:.2f}x less wall time (goal >= 3.5x); test acc bench "
          f"{[round(r.metrics['test_acc'], 4) for r in bench_results]} notebook {[round(x[1], 4) for x in nb]}")
    print(f"(f) plan estimate {predicted:.1f}s vs actual {bench_wall:.1f}s: {100 * (predicted / bench_wall - 1):+.0f}%")
    rows += [{"measure": "(e) grid wall seconds: bench", "seconds": round(bench_wall, 1)},
             {"measure": "(e) grid wall seconds: notebook", "seconds": round(nb_wall, 1)},
             {"measure": "(f) plan estimate seconds", "seconds": round(predicted, 1)}]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with args.out.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["measure", "images_per_s", "test_acc", "n", "min", "max", "seconds"])
        writer.writeheader()
        writer.writerows(rows)
    print(f"machine: {env.cpu_name()}, {torch.get_num_threads()} threads, torch {torch.__version__}; "
          f"model {args.model}, batch {args.batch_size}, subset {args.subset}; wrote {args.out}")


if __name__ == "__main__":
    main()
