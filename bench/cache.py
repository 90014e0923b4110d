"""Small per-machine JSON caches under ~/.cache/bench (XDG_CACHE_HOME): step calibrations and the
step configuration chosen per cell shape. A cache is an optimisation only: a corrupt, foreign or
unwritable one is ignored (and rewritten), never fatal."""

from __future__ import annotations

import json
import os
from pathlib import Path


def path(name: str) -> Path:
    root = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    return root / "bench" / name


def read(name: str) -> dict:
    try:
        value = json.loads(path(name).read_text())
    except (OSError, ValueError, UnicodeDecodeError):
        return {}
    return value if isinstance(value, dict) else {}


def write(name: str, value: dict) -> None:
    target = path(name)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(value, indent=1, sort_keys=True))
        os.replace(tmp, target)
    except OSError:
        pass  # a cache we cannot write only costs a measurement next time
