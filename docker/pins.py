"""Write the images' pinned requirements from pyproject.toml, so pyproject stays the one source of pins.

torch and torchvision go to their own file: the CPU image installs them from PyTorch's CPU wheel
index (a build argument), everything else comes from pip's default index.

    python docker/pins.py          # rewrite docker/requirements*.txt
    python docker/pins.py --check  # exit 1 when they are out of date (run by the tests)
"""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TORCH = ("torch", "torchvision")
HEADER = "# Generated from pyproject.toml by `python docker/pins.py`; do not edit.\n"


def wanted() -> dict[Path, str]:
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    loose = [d for d in deps if "==" not in d]
    if loose:
        raise SystemExit(f"pyproject.toml: image dependencies must be pinned with ==: {loose}")
    torch = [d for d in deps if d.split("==")[0].strip() in TORCH]
    rest = [d for d in deps if d not in torch]
    return {ROOT / "docker/requirements-torch.txt": HEADER + "\n".join(torch) + "\n",
            ROOT / "docker/requirements.txt": HEADER + "\n".join(rest) + "\n"}


def main(argv: list[str]) -> int:
    stale = [path for path, text in wanted().items() if not path.exists() or path.read_text() != text]
    if "--check" in argv:
        for path in stale:
            print(f"{path.relative_to(ROOT)} is out of date with pyproject.toml: run `python docker/pins.py`")
        return 1 if stale else 0
    for path, text in wanted().items():
        path.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
