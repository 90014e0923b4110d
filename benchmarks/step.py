"""The step experiment: how fast can one training step of the study's ResNets go, and which
technique would bring the full-scale q1a within minutes?

For resnet18, resnet32, resnet34 and resnet50 at batch 16 and 32 (1x28x28, Adam, fp32, channels_last), the
median over --repeats timed blocks of --steps training steps each (after warm-up), for:
  eager      one model, one step at a time, channels_last, torch's default Adam (bench before it measured);
  fused      NCHW and Adam's fused kernel (what `bench run` chooses where it measures fastest);
  graph      the whole step captured as one CUDA graph (bench.graphed: static inputs, capturable Adam;
             CUDA only);
  fused4     four models stacked with torch.func (stack_module_state + vmap; BatchNorm without
             running statistics) trained in one step: the per-model time is reported;
  workersN   N = 1, 2, 4 processes each running eager steps at once, each with 1/N of the threads
             (on CUDA sharing the GPU): aggregate images/s.
Writes benchmarks/step-<device>.csv (a row flushed as each is measured, so a cut run keeps them)
and the table between the markers in benchmarks/README.md, with `bench plan --step-table`'s
estimate of the full-scale q1a under each technique (128 cells, 49,000 training images, epoch and
pin_memory sharing: 32 training runs of 10 epochs on either device). Run on an idle machine; a few
minutes on 2 CPU cores. --from-csv renders the table again from a saved CSV without measuring.

    python benchmarks/step.py [--device cpu|cuda] [--repeats 5] [--steps 5] [--from-csv PATH]
"""

from __future__ import annotations

import argparse
import csv
import functools
import multiprocessing
import os
import statistics
import time
from pathlib import Path

import torch
from torch import nn

HERE = Path(__file__).resolve().parent
MODELS = ("resnet18", "resnet32", "resnet34", "resnet50")
BATCHES = (16, 32)


def _setup(model_name: str, batch: int, device: str):
    from bench import models

    torch.manual_seed(0)
    model = models.build(model_name).to(device, memory_format=torch.channels_last).train()
    x = torch.randn(batch, 1, 28, 28, device=device).contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 10, (batch,), device=device)
    return model, x, y


def _blocks(step, device: str, steps: int, repeats: int, warmup: int = 3) -> list[float]:
    """Seconds per step of each timed block: bench's one timing protocol (bench.clock)."""
    from bench import clock

    return clock.block_seconds(step, device, warmup, steps, repeats)


def eager(model_name: str, batch: int, device: str, steps: int, repeats: int, nchw_fused: bool = False) -> list[float]:
    """One step at a time; `nchw_fused`: NCHW (contiguous) and Adam's fused kernel, what `bench run`
    chooses where it measures fastest."""
    model, x, y = _setup(model_name, batch, device)
    if nchw_fused:
        model, x = model.to(memory_format=torch.contiguous_format), x.contiguous()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, **({"fused": True} if nchw_fused else {}))

    def step():
        loss = nn.functional.cross_entropy(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return _blocks(step, device, steps, repeats)


def graph(model_name: str, batch: int, device: str, steps: int, repeats: int) -> list[float]:
    """The whole step (forward, backward, Adam) replayed as one CUDA graph (bench.graphed, as `bench run`
    trains with it where it is proven equal and fastest): one launch per step."""
    from bench import graphed

    model, x, y = _setup(model_name, batch, device)
    step = graphed.GraphedStep(model, torch.optim.Adam(model.parameters(), lr=1e-3, capturable=True), x, y, None)
    return _blocks(lambda: step(x, y), device, steps, repeats)


def fused4(model_name: str, batch: int, device: str, steps: int, repeats: int) -> list[float]:
    """Four models in one vmapped step; returns seconds per step per model."""
    from torch.func import functional_call, replace_all_batch_norm_modules_, stack_module_state, vmap

    from bench import models

    copies = []
    for seed in range(4):
        torch.manual_seed(seed)
        m = models.build(model_name).to(device, memory_format=torch.channels_last).train()
        copies.append(replace_all_batch_norm_modules_(m))
    params, buffers = stack_module_state(copies)
    base = copies[0].to("meta")
    opt = torch.optim.Adam(list(params.values()), lr=1e-3)
    _, x, y = _setup(model_name, batch, device)
    xs, ys = x.expand(4, *x.shape), y.expand(4, *y.shape)

    def one(p, b, xi, yi):
        return nn.functional.cross_entropy(functional_call(base, (p, b), (xi,)), yi)

    def step():
        loss = vmap(one)(params, buffers, xs, ys).sum()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return [t / 4 for t in _blocks(step, device, steps, repeats)]


def _worker(model_name, batch, device, steps, repeats, threads, barrier, results) -> None:
    from bench import clock

    clock.use_threads(threads)
    barrier.wait()
    results.put(eager(model_name, batch, device, steps, repeats))


def workers(n: int, model_name: str, batch: int, device: str, steps: int, repeats: int) -> list[float]:
    """Seconds per image-batch of the whole machine: n processes stepping at once; the per-process
    medians combine into aggregate throughput (returned as seconds per step of one batch)."""
    ctx = multiprocessing.get_context("spawn")
    barrier, results = ctx.Barrier(n), ctx.Queue()
    threads = max(1, torch.get_num_threads() // n)
    procs = [ctx.Process(target=_worker, args=(model_name, batch, device, steps, repeats, threads, barrier,
                                               results)) for _ in range(n)]
    for p in procs:
        p.start()
    per_process = [results.get(timeout=1800) for _ in procs]
    for p in procs:
        p.join()
    # each block of each process ran concurrently with the others' blocks: aggregate rate per block
    return [1 / sum(1 / blocks[i] for blocks in per_process) for i in range(repeats)]


def q1a_estimate(csv_path: Path, device: str) -> list[tuple[str, float, int, int]]:
    """`bench plan`'s estimate of the full-scale q1a on this device under each technique of the table."""
    from bench import estimate, plan, presets

    cells = plan.cells_of(presets.load("q1a").specs({"subset": 0, "device": device}, 1))
    return estimate.by_technique(cells, csv_path)[1]


TECHNIQUES = {"eager": eager, "fused": functools.partial(eager, nchw_fused=True), "graph": graph, "fused4": fused4}


ALL = ("eager", "fused", "graph", "fused4", "workers1", "workers2", "workers4")


def _device_name(device: str) -> str:
    if device == "cuda":
        return torch.cuda.get_device_name()
    model = [line for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("model name")]
    return f"{model[0].split(':', 1)[1].strip() if model else 'CPU'} ({torch.get_num_threads()} threads)"


def measure(device: str, steps: int, repeats: int, techniques: tuple[str, ...] = ALL, on_row=None,
            models: tuple[str, ...] = MODELS) -> list[dict]:
    """Every row, each also handed to `on_row` as soon as it is measured (a cut run keeps its rows)."""
    rows = []
    for model_name in models:
        for batch in BATCHES:
            runs = {name: fn for name, fn in TECHNIQUES.items() if name != "graph" or device == "cuda"}
            runs.update({f"workers{n}": functools.partial(workers, n) for n in (1, 2, 4)})
            for technique, fn in ((t, f) for t, f in runs.items() if t in techniques):
                blocks = fn(model_name, batch, device, steps, repeats)
                med = statistics.median(blocks)
                rows.append({"device": device, "model": model_name, "batch": batch, "technique": technique,
                             "ms_per_step": round(1000 * med, 3), "min_ms": round(1000 * min(blocks), 3),
                             "max_ms": round(1000 * max(blocks), 3), "images_per_s": round(batch / med, 1),
                             "repeats": repeats, "steps": steps, "threads": torch.get_num_threads(),
                             "torch": torch.__version__, "device_name": _device_name(device)})
                if on_row:
                    on_row(rows[-1])
                print(f"{model_name:8} bs {batch:2} {technique:8} {1000 * med:8.2f} ms/step "
                      f"({min(blocks) * 1000:.2f}-{max(blocks) * 1000:.2f}), {batch / med:7.0f} img/s", flush=True)
    return rows


def table(rows: list[dict], device: str, name: str, csv_path: Path) -> str:
    techniques = list(dict.fromkeys(r["technique"] for r in rows))
    lines = [f"| model | batch | {' | '.join(techniques)} |", "| --- | ---: |" + " ---: |" * len(techniques)]
    for model_name in MODELS:
        for batch in BATCHES:
            cells = {r["technique"]: r for r in rows if r["model"] == model_name and r["batch"] == batch}
            lines.append(f"| {model_name} | {batch} | " + " | ".join(
                f"{cells[t]['images_per_s']:.0f} img/s ({cells[t]['ms_per_step']:.1f} ms)" if t in cells else "–"
                for t in techniques) + " |")
    shown = os.path.relpath(csv_path, HERE.parent) if csv_path.resolve().is_relative_to(HERE.parent) else csv_path
    lines += ["", f"Estimated full-scale q1a on this {name}: `bench plan --preset q1a --subset 0 --device {device} "
              f"--step-table {shown}` (training steps, and evaluation at a third of a training "
              "image's cost; data loading not included):", "", "| technique | minutes |", "| --- | ---: |"]
    lines += [f"| {t} | " + (f"{secs / 60:,.0f}" if covered else "–")
              + (f" ({covered} of {runs} runs covered)" if covered < runs else "") + " |"
              for t, secs, covered, runs in q1a_estimate(csv_path, device)]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--out", type=Path, default=HERE)
    parser.add_argument("--techniques", default=",".join(ALL), help=f"comma-separated, of {', '.join(ALL)}")
    parser.add_argument("--models", default=",".join(MODELS), help="comma-separated ResNets")
    parser.add_argument("--from-csv", type=Path, help="render the table from this saved CSV; measure nothing")
    args = parser.parse_args()
    techniques = tuple(t.strip() for t in args.techniques.split(",") if t.strip())
    unknown = sorted(set(techniques) - set(ALL))
    if unknown:
        parser.error(f"unknown technique {unknown[0]!r}; choose from {', '.join(ALL)}")
    if os.environ.get("BENCH_THREADS"):
        from bench import clock

        clock.use_threads()
    start = time.perf_counter()
    csv_path = args.from_csv or args.out / f"step-{args.device}.csv"
    if args.from_csv:
        from bench.errors import BenchError
        from bench.estimate import read_step_table

        try:
            args.device = read_step_table(csv_path)[0]["device"]  # checks the table as `bench plan` does
        except BenchError as exc:
            parser.error(str(exc))
        with csv_path.open(newline="", encoding="utf-8-sig") as f:
            rows = list(csv.DictReader(f))
        for row in rows:
            row.update(batch=int(row["batch"]), ms_per_step=float(row["ms_per_step"]))
            row["images_per_s"] = float(row.get("images_per_s") or 1000 * row["batch"] / row["ms_per_step"])
    else:
        args.out.mkdir(parents=True, exist_ok=True)
        torch.backends.cudnn.benchmark = True  # as `bench run` sets it (autotuned once per shape, at warm-up)
        with csv_path.open("w", newline="") as f:
            writer = None

            def flush(row: dict) -> None:
                nonlocal writer
                if writer is None:
                    writer = csv.DictWriter(f, fieldnames=list(row))
                    writer.writeheader()
                writer.writerow(row)
                f.flush()

            rows = measure(args.device, args.steps, args.repeats, techniques, on_row=flush,
                           models=tuple(m.strip() for m in args.models.split(",") if m.strip()))
    name = rows[0].get("device_name") or ("CUDA GPU" if args.device == "cuda" else
                                          f"CPU ({rows[0].get('threads') or '?'} threads)")
    text = table(rows, args.device, name, csv_path)
    print(text)
    readme = args.out / "README.md"
    begin, end = f"<!-- step:{args.device} -->", f"<!-- /step:{args.device} -->"
    if readme.exists() and begin in readme.read_text():
        old = readme.read_text()
        readme.write_text(old[: old.index(begin) + len(begin)] + "\n" + text + "\n" + old[old.index(end):])
    print(f"step experiment took {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
