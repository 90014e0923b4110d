"""Shared fixtures: tiny IDX datasets written by the tests themselves, and the real data when present."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np
import pytest

REAL_DATA = Path(os.environ["BENCH_DATA_DIR"]) if os.environ.get("BENCH_DATA_DIR") else None
# `bench run` defaults to `--workers auto` (one process per core): the tests' tiny runs would spend
# more on starting workers than on computing, and run in-process, so they ask for one unless a test
# asks otherwise (tests/test_workers.py tests auto).
os.environ.setdefault("BENCH_WORKERS", "1")


def write_idx(path: Path, array: np.ndarray, magic: int, compress: bool = True) -> Path:
    """Write an IDX file (big-endian header: magic, then one 4-byte size per dimension)."""
    header = magic.to_bytes(4, "big") + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    payload = header + array.astype(np.uint8).tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    if compress:
        path = path.with_name(path.name + ".gz")
        path.write_bytes(gzip.compress(payload, mtime=0))
    else:
        path.write_bytes(payload)
    return path


def make_tiny_dataset(root: Path, folder: str, n_train: int = 120, n_test: int = 40, seed: int = 0,
                      compress: bool = True) -> None:
    """Class-dependent blobs (learnable), balanced labels, in the publishers' file layout."""
    rng = np.random.default_rng(seed)
    for part, n in (("train", n_train), ("t10k", n_test)):
        labels = np.arange(n) % 10
        images = rng.integers(0, 40, size=(n, 28, 28))
        for i, label in enumerate(labels):
            images[i, 2 * label:2 * label + 6, 4:24] = 220
        write_idx(root / folder / f"{part}-images-idx3-ubyte", images, 2051, compress)
        write_idx(root / folder / f"{part}-labels-idx1-ubyte", labels, 2049, compress)


@pytest.fixture
def tiny_data(tmp_path, monkeypatch) -> Path:
    """A data dir with tiny MNIST and Fashion-MNIST look-alikes; their checksums are not the real ones."""
    from bench import data

    root = tmp_path / "data"
    make_tiny_dataset(root, "mnist", seed=1)
    make_tiny_dataset(root, "fashion-mnist", seed=2, compress=False)
    monkeypatch.setattr(data, "SHA256", {})
    data.load.cache_clear()
    yield root
    data.load.cache_clear()


@pytest.fixture
def real_data() -> Path:
    if REAL_DATA is None or not REAL_DATA.is_dir():
        pytest.skip("BENCH_DATA_DIR is not set to the real MNIST/Fashion-MNIST folder (.ci/run sets it)")
    return REAL_DATA


@pytest.fixture(autouse=True, scope="session")
def _own_caches(tmp_path_factory):
    """The tests' step choices and calibrations live in a cache of their own, never the user's."""
    previous = os.environ.get("XDG_CACHE_HOME")
    os.environ["XDG_CACHE_HOME"] = str(tmp_path_factory.mktemp("cache"))
    yield
    if previous is None:
        os.environ.pop("XDG_CACHE_HOME", None)
    else:
        os.environ["XDG_CACHE_HOME"] = previous

