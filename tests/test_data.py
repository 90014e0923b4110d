"""IDX decoding (raw and .gz), checksums, and deterministic, disjoint, stratified splits."""

import gzip
from pathlib import Path

import numpy as np
import pytest

from bench import data
from bench.errors import BenchError
from tests.conftest import make_tiny_dataset, write_idx


def test_reads_gz_and_raw_files(tiny_data):
    mnist = data.load("mnist", tiny_data)  # .gz
    fashion = data.load("fashion", tiny_data)  # raw
    assert mnist.images.shape == (160, 28, 28) and mnist.images.dtype.is_floating_point is False
    assert fashion.n_official_train == 120
    assert mnist.labels[:12].tolist() == [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1]


def test_checksum_mismatch_is_a_one_line_error(tiny_data, monkeypatch):
    monkeypatch.setattr(data, "SHA256", {("mnist", "train-labels-idx1-ubyte"): "0" * 64})
    with pytest.raises(BenchError, match="train-labels-idx1-ubyte.gz fails its sha256 check"):
        data.load("mnist", tiny_data)


def test_checksum_is_of_the_decompressed_payload(tiny_data, monkeypatch):
    import hashlib

    payload = gzip.decompress((tiny_data / "mnist" / "train-labels-idx1-ubyte.gz").read_bytes())
    monkeypatch.setattr(data, "SHA256", {("mnist", "train-labels-idx1-ubyte"): hashlib.sha256(payload).hexdigest()})
    assert len(data.load("mnist", tiny_data).labels) == 160


def test_truncated_and_wrong_magic_files(tmp_path, monkeypatch):
    monkeypatch.setattr(data, "SHA256", {})
    path = write_idx(tmp_path / "x-images", np.zeros((3, 28, 28)), 2051, compress=False)
    path.write_bytes(path.read_bytes()[:-5])
    with pytest.raises(BenchError, match="truncated"):
        data.read_idx(path, "mnist", data.IMAGES_MAGIC)
    with pytest.raises(BenchError, match="magic"):
        data.read_idx(path, "mnist", data.LABELS_MAGIC)


def test_missing_file_names_it(tmp_path):
    make_tiny_dataset(tmp_path, "mnist")
    (tmp_path / "mnist" / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(BenchError, match="t10k-labels-idx1-ubyte"):
        data.locate("mnist", tmp_path)


def test_random_split_is_deterministic_disjoint_and_70_10_20(tiny_data):
    ds = data.load("mnist", tiny_data)
    a, b = data.split(ds, "random", 0, 7), data.split(ds, "random", 0, 7)
    assert all(np.array_equal(getattr(a, k), getattr(b, k)) for k in ("train", "val", "test"))
    parts = [set(a.train), set(a.val), set(a.test)]
    assert not (parts[0] & parts[1] or parts[0] & parts[2] or parts[1] & parts[2])
    assert (len(a.train), len(a.val), len(a.test)) == (112, 16, 32)
    c = data.split(ds, "random", 0, 8)
    assert not np.array_equal(a.test, c.test)


def test_subset_shrinks_training_only_and_is_stratified(tiny_data):
    """The test images depend on (split, seed, test_size) only: whatever a cell trains on, cells
    with those three are tested on the same images (ResNets and SVMs alike)."""
    ds = data.load("mnist", tiny_data)
    full = data.split(ds, "random", 0, 0)
    s = data.split(ds, "random", 70, 0)
    assert len(s.train) == 70 and set(s.train) <= set(full.train)
    assert np.bincount(ds.labels.numpy()[s.train], minlength=10).tolist() == [7] * 10
    assert np.array_equal(s.test, full.test) and np.array_equal(s.val, full.val)  # val: max(500, n/7), capped
    small_test = data.split(ds, "random", 70, 0, test_size=50 if len(full.test) >= 50 else 0)
    assert set(small_test.test) <= set(full.test)
    with pytest.raises(BenchError, match="test_size 10"):
        data.split(ds, "random", 0, 0, test_size=10)
    with pytest.raises(BenchError, match="test_size 99999"):
        data.split(ds, "random", 0, 0, test_size=99_999)
    o = data.split(ds, "official", 0, 0)
    assert set(o.test) == set(range(120, 160))
    assert len(o.train) == 100 and len(o.val) == 20
    with pytest.raises(BenchError, match="larger than"):
        data.split(ds, "random", 10_000, 0)


def test_real_data_checksums_and_sizes(real_data):
    ds = data.load("fashion", real_data)
    assert ds.images.shape == (70_000, 28, 28) and ds.n_official_train == 60_000
    s = data.split(ds, "random", 0, 0)
    assert (len(s.train), len(s.val), len(s.test)) == (49_000, 7_000, 14_000)
    q1a = data.split(ds, "random", 1_000, 0, test_size=2_000)  # the study's test split: same for every subset
    assert (len(q1a.train), len(q1a.val), len(q1a.test)) == (1_000, 500, 2_000)
    assert np.array_equal(q1a.test, data.split(ds, "random", 0, 0, test_size=2_000).test)
    assert np.bincount(ds.labels.numpy()[q1a.test], minlength=10).tolist() == [200] * 10


@pytest.mark.parametrize("name", sorted(data.STUDY_STATS))
def test_the_study_statistics_are_the_real_training_images(real_data, name):
    """What `bench plan`'s calibration normalises with is what a run on the study's split computes."""
    ds = data.load(name, real_data)
    measured, known = data.training_stats(ds, data.split(ds, "random", 0, 0)), data.STUDY_STATS[name]
    assert (measured.mean, measured.std) == pytest.approx((known.mean, known.std), abs=1e-6)


def test_an_unreadable_data_folder_is_one_line(tiny_data, monkeypatch):
    """A folder without permission (as a non-root user sees `chmod 000 mnist/`): stat fails with EACCES."""
    from click.testing import CliRunner

    from bench.cli import main

    real = Path.is_file

    def is_file(self):
        if "mnist" in self.parts:
            raise PermissionError(13, "Permission denied", str(self))
        return real(self)

    monkeypatch.setattr(Path, "is_file", is_file)
    result = CliRunner().invoke(main, ["data", "--data-dir", str(tiny_data)])
    assert result.exit_code == 1 and "Permission denied" in result.output and "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1
