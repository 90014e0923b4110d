"""The only code of the report that touches the disk for writing. The new site is written in full to
a staging folder inside --out, then swapped in file by file: a kill or a full disk while building
leaves the old site whole, and no page is missing at any moment."""

from __future__ import annotations

import os
import shutil
from pathlib import Path, PurePosixPath

from bench.csvfile import writable_folder
from bench.errors import BenchError

MARKER = ".bench-site"  # marks a folder as ours, so a rebuild never replaces someone else's folder


def check_out(out: Path, protected: list[Path], probe: bool = False) -> None:
    """Refuse an --out that is not ours, or that holds (or is held by) a folder we must not touch;
    with `probe`, also one that cannot be created or written (before the slow part)."""
    if out.exists() and (not out.is_dir() or (any(out.iterdir()) and not (out / MARKER).exists())):
        raise BenchError(f"{out} exists and was not written by `bench report`; "
                         "choose another --out or remove it yourself")
    real_out = out.resolve()
    for path in protected:
        real = path.resolve()
        if real == real_out or real_out in real.parents or real in real_out.parents:
            raise BenchError(f"--out {out} and {path} overlap; rebuilding the site would replace the store. "
                             "Choose an --out outside the store")
    if probe:
        writable_folder(out, "--out", "nothing was written", keep=False)


def _checked_name(name: str) -> PurePosixPath:
    """Site file names come partly from stored text: a name must stay inside the site."""
    path = PurePosixPath(name)
    if not name or path.is_absolute() or any(part in ("", ".", "..") for part in name.split("/")):
        raise BenchError(f"refusing to write {name[:80]!r}: not a plain path inside --out")
    return path


def _fill(folder: Path, files: dict[str, str | bytes]) -> list[Path]:
    written = []
    for name, content in sorted({MARKER: "", **files}.items()):
        path = folder / _checked_name(name)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
        written.append(path)
    return written


def _swap_in(out: Path, stage: Path) -> None:
    """Move each new file over its old one (each move atomic, so no page ever goes missing), then
    remove what the new site lacks, leftovers of interrupted builds included. Symlinks are removed,
    never followed."""
    new = set()
    for folder, _, names in os.walk(stage):
        new.update(Path(folder, n).relative_to(stage) for n in names)
    for rel in sorted(new):
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
        os.replace(stage / rel, out / rel)
    shutil.rmtree(stage)
    for folder, dirs, names in os.walk(out, topdown=False):
        for name in names + [d for d in dirs if Path(folder, d).is_symlink()]:
            path = Path(folder, name)
            if path.relative_to(out) not in new:
                path.unlink()
        for name in dirs:
            path = Path(folder, name)
            if path.is_dir() and not path.is_symlink() and not any(path.iterdir()):
                path.rmdir()


def write_site(out: Path, files: dict[str, str | bytes], protected: list[Path] = ()) -> list[Path]:
    """Replace the contents of `out` with exactly `files` ({relative path: content}); return the
    paths written. Nothing outside `out` is written, so --out may be a mount point or sit in a
    read-only folder."""
    out = Path(out)
    check_out(out, list(protected))
    stage = out / f".new-{os.getpid()}"
    try:
        out.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(stage, ignore_errors=True)
        stage.mkdir()
        written = [out / p.relative_to(stage) for p in _fill(stage, files)]
        _swap_in(out, stage)
    except OSError as exc:
        shutil.rmtree(stage, ignore_errors=True)
        raise BenchError(f"cannot write the site to {out}: {exc.strerror or exc}; the previous site is "
                         "unchanged, or whole with some new pages if it failed while swapping them in") from None
    return written
