"""Process claims on cells: claims/<run_id> holds the owner's boot id and pid while it computes the
cell, so two `bench run`s on one store never train a cell twice. A claim whose owner died, or that
comes from another machine or boot (which cannot be checked), is ignored: work is never blocked forever."""

from __future__ import annotations

import os
from pathlib import Path


def boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return "unknown-boot"


def started(pid: int) -> str:
    """When process `pid` started (clock ticks since boot, /proc/<pid>/stat field 22): with the pid
    it names one process, even where pids repeat (containers start their processes at small pids)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return "?"


def owner(path: Path) -> int | None:
    """The pid of the live process of this boot (us included) that holds the claim at `path`, else None."""
    try:
        boot, pid, *start = path.read_text().split()
        pid = int(pid)
    except (OSError, ValueError, UnicodeDecodeError):
        return None  # no claim, or one torn by a crash
    if boot != boot_id() or not 0 < pid < 2**22:
        return None
    if start and start[0] != "?" and start[0] != started(pid):
        return None  # the pid now names another process: the owner is gone
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        return pid
    return pid


def other_owner(path: Path) -> int | None:
    """The pid of a live process of this boot, other than us, that holds the claim at `path`."""
    pid = owner(path)
    return None if pid == os.getpid() else pid


def others_computing(folder: Path) -> int:
    """How many other live processes on this machine hold claims in `folder`: the cells that run
    beside ours (a row's `concurrency` is one more than this)."""
    try:
        paths = list(folder.iterdir())
    except OSError:
        return 0
    return len({pid for pid in map(other_owner, paths) if pid is not None})


def take(folder: Path, run_ids: list[str]) -> list[str]:
    """Claim every id not claimed by another live process (call under the store lock). Claims whose
    owner is gone go on the way: a process killed after storing its cell, before releasing the claim,
    leaves one that no later run takes (the cell is stored), and a finished grid leaves no claims."""
    folder.mkdir(exist_ok=True)
    held = set()  # ids claimed by another live process: each claim is read once
    for path in folder.iterdir():
        pid = owner(path)
        if pid is None:
            path.unlink(missing_ok=True)
        elif pid != os.getpid():
            held.add(path.name)
    mine = [rid for rid in run_ids if rid not in held]
    for rid in mine:
        (folder / rid).write_text(f"{boot_id()} {os.getpid()} {started(os.getpid())}\n")
    return mine


def release(folder: Path, run_ids: list[str]) -> None:
    for rid in run_ids:
        (folder / rid).unlink(missing_ok=True)


COMPUTING = ("run", "time")  # the bench commands that compute


def _bench_command(argv: list[str]) -> str | None:
    """`bench run` / `bench time` when argv runs one (as the `bench` script, `python -m bench.cli`
    or `-m bench`), else None."""
    for i, arg in enumerate(argv[:-1]):
        if Path(arg).name == "bench" or (arg in ("bench", "bench.cli") and i and argv[i - 1] == "-m"):
            return f"bench {argv[i + 1]}" if argv[i + 1] in COMPUTING else None
    return None


def _family() -> set[int]:
    """This process and its ancestors: not "others". (Workers a `bench run` starts are not `bench`
    command lines, so they never show; their parent does.)"""
    mine, pid = {os.getpid()}, os.getpid()
    while pid > 1:
        try:
            pid = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            break
        mine.add(pid)
    return mine


def bench_processes() -> list[str]:
    """Other `bench run` / `bench time` processes on this machine, whatever store they compute in,
    read from /proc (processes in containers on this machine are there too): `pid N: bench run`.
    Read by hand, not with psutil: psutil is no dependency, and the GPU machines the study runs on
    have no network and only a fixed set of packages."""
    found, family = [], _family()
    for entry in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            pid = int(entry.parent.name)
            argv = entry.read_bytes().decode("utf-8", "replace").split("\0")[:-1]
        except (OSError, ValueError):
            continue
        command = _bench_command(argv)
        if command and pid not in family:
            found.append(f"pid {pid}: {command}")
    return sorted(found, key=lambda text: int(text.split()[1].rstrip(":")))
