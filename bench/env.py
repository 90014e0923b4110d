"""What the environment columns of every stored row say: versions, hardware, threads, git state.
torch and scikit-learn are imported where used, so planning and help need neither."""

from __future__ import annotations

import functools
import hashlib
import os
import platform
import re
import subprocess
from pathlib import Path

import bench
from bench.errors import BenchError


def thread_count() -> int:
    """Threads for torch: BENCH_THREADS when set, else the cores this process may use (no loader
    workers compete with them; on a shared machine fewer threads avoid OpenMP barrier thrash)."""
    text = os.environ.get("BENCH_THREADS", "").strip()
    if text:
        if not (text.isascii() and text.isdecimal() and 1 <= int(text) <= 1024):
            raise BenchError(f"BENCH_THREADS must be a whole number from 1 to 1024, got {text[:20]!r}")
        return int(text)
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


@functools.lru_cache(maxsize=1)
def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


# Dense peak FLOP/s from the vendors' data sheets: (fp32, tf32 tensor core, 16-bit tensor core);
# None when the card has no such unit. CPUs are left out: their peak depends on clocks and vector
# units we cannot read reliably.
GPU_PEAKS = {
    "H100 80GB HBM3": (67e12, 494.7e12, 989e12), "H100 PCIe": (51e12, 378e12, 756e12),
    "H200": (67e12, 494.7e12, 989e12), "A100-SXM4-80GB": (19.5e12, 156e12, 312e12),
    "A100-SXM4-40GB": (19.5e12, 156e12, 312e12), "A100-PCIE-40GB": (19.5e12, 156e12, 312e12),
    "L4": (30.3e12, 60e12, 121e12), "Tesla T4": (8.1e12, None, 65e12),
    "GeForce RTX 4090": (82.6e12, 82.6e12, 165e12),
}


def tf32_enabled(device: str) -> bool | None:
    """Whether fp32 convolutions may run as TF32 (cuDNN's default): the peak that applies to fp32."""
    if device != "cuda":
        return None
    import torch

    return bool(torch.backends.cudnn.allow_tf32)


def peak_flops(spec) -> float | None:
    """The device's peak for the precision this cell ran in, when known (utilisation = achieved / peak):
    16-bit tensor cores under AMP, TF32 tensor cores for fp32 where TF32 is on, else plain fp32."""
    if spec.kind != "resnet" or spec.device != "cuda":
        return None
    name = device_name("cuda")
    for key, (fp32, tf32, half) in GPU_PEAKS.items():
        if key in name:
            if spec.amp:
                return half
            return tf32 if tf32_enabled("cuda") and tf32 else fp32
    return None


@functools.lru_cache(maxsize=1)
def host_id() -> str:
    """A stable, anonymous identity of this machine: a hash of its machine id, CPU model and GPUs
    (names and UUIDs). Timings are compared, and Q2 pairs formed, only within one host."""
    machine = ""
    for path in ("/etc/machine-id", "/var/lib/dbus/machine-id"):
        try:
            machine = Path(path).read_text().strip()
            break
        except OSError:
            continue
    import torch

    gpus = []
    if torch.cuda.is_available():
        for i in range(torch.cuda.device_count()):
            props = torch.cuda.get_device_properties(i)
            gpus.append(f"{props.name}:{getattr(props, 'uuid', '')}")
    text = "|".join([machine or platform.node(), cpu_name(), *gpus])
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def load_average() -> float | None:
    """The 1-minute load average (runnable threads), or None where the system has none."""
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:
        return None


def cpu_seconds_busy() -> float | None:
    """CPU seconds every process on this machine has computed since boot (Linux's /proc/stat: all
    but idle and I/O wait), or None where there is no such file."""
    try:
        ticks = [int(t) for t in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    except (OSError, ValueError):
        return None
    if len(ticks) < 5:
        return None
    return (sum(ticks) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")


def has_cuda() -> bool:
    import torch

    return torch.cuda.is_available()


def require_device(device: str) -> None:
    if device == "cuda" and not has_cuda():
        raise BenchError("cuda cells were asked for but no CUDA GPU is visible to torch; run them on a GPU "
                         "machine (make bench DEVICE=cuda), or only the CPU cells with --device cpu")


def device_name(device: str) -> str:
    if device != "cuda":
        return cpu_name()
    import torch

    return torch.cuda.get_device_name(0)


def device_identity(device: str) -> str:
    """The device as `device:name` (e.g. `cpu:AMD EPYC 9R14`): what keys this machine's caches (step
    choices, calibrations). Not part of a run id: the same spec is one cell on every CPU model."""
    return f"{device}:{device_name(device)}"


def _git(*args: str) -> str:
    root = Path(__file__).resolve().parents[1]
    try:
        out = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, timeout=5, check=True)
        return out.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def repository_url() -> str:
    """The web address of this checkout's `origin` remote ("" without one): git@host:owner/repo.git
    and https://host/owner/repo(.git) both become https://host/owner/repo; other forms are dropped."""
    url = _git("remote", "get-url", "origin")
    ssh = re.fullmatch(r"git@([\w.-]+):([\w.-]+/[\w.-]+?)(?:\.git)?", url)
    web = re.fullmatch(r"https://([\w.-]+)/([\w.-]+/[\w.-]+?)(?:\.git)?/?", url)
    match = ssh or web
    return f"https://{match.group(1)}/{match.group(2)}" if match else ""


OUTPUTS = (":(exclude)results", ":(exclude)site")  # git pathspecs of what bench writes into the repository


@functools.lru_cache(maxsize=2)
def describe(device: str) -> dict:
    """The environment row for runs on `device` (no paths or host names: nothing that leaks a home)."""
    commit = os.environ.get("BENCH_GIT_COMMIT") or _git("rev-parse", "--short=12", "HEAD")
    # The committed study's own outputs (the store a run appends to, the report) are data, not code:
    # a row stored into results/ must not mark the next row's commit dirty.
    dirty = bool(_git("status", "--porcelain", "--untracked-files=no", "--", ".", *OUTPUTS)) if commit and not \
        os.environ.get("BENCH_GIT_COMMIT") else False
    import sklearn
    import torch

    cuda = torch.cuda.is_available()
    return {
        "bench_version": bench.__version__,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cuda": torch.version.cuda or "" if cuda else "",
        "cudnn": str(torch.backends.cudnn.version() or "") if cuda else "",
        "sklearn": sklearn.__version__,
        "device_name": device_name(device),
        "cpu_name": cpu_name(),
        "host_id": host_id(),
        "threads": torch.get_num_threads(),
        "os": f"{platform.system()} {platform.machine()}",
        "git_commit": commit,
        "git_dirty": dirty,
        "container_image": os.environ.get("BENCH_IMAGE", ""),
    }
