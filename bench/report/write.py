"""The only code of the report that touches the disk for writing: it replaces `out` whole."""

from __future__ import annotations

import shutil
from pathlib import Path

from bench.errors import BenchError

MARKER = ".bench-site"  # marks a folder as ours, so a rebuild never wipes someone else's folder


def write_site(out: Path, files: dict[str, str | bytes]) -> list[Path]:
    """Rebuild `out` from scratch with `files` ({relative path: content}); return the paths written."""
    out = Path(out)
    if out.exists():
        if not out.is_dir() or (any(out.iterdir()) and not (out / MARKER).exists()):
            raise BenchError(f"{out} exists and was not written by `bench report`; "
                             "choose another --out or remove it yourself")
        for child in out.iterdir():  # empty it rather than remove it: `out` may be a mount point
            shutil.rmtree(child) if child.is_dir() and not child.is_symlink() else child.unlink()
    written = []
    for name, content in sorted({MARKER: "", **files}.items()):
        path = out / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
        written.append(path)
    return written
