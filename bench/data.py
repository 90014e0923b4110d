"""MNIST and Fashion-MNIST: IDX files (raw or .gz) checked by sha256, decoded once into uint8 tensors,
then split into train/val/test deterministically."""

from __future__ import annotations

import functools
import gzip
import hashlib
import math
import os
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from sklearn.model_selection import train_test_split

from bench.errors import BenchError

FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
# Folder names tried under a data dir: ours (as in ../shared/data), then torchvision's layout.
FOLDERS = {"mnist": ("mnist", "MNIST/raw"), "fashion": ("fashion-mnist", "FashionMNIST/raw")}
# sha256 of the decompressed payloads (the original files as their publishers released them).
SHA256 = {
    ("mnist", "train-images-idx3-ubyte"): "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    ("mnist", "train-labels-idx1-ubyte"): "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    ("mnist", "t10k-images-idx3-ubyte"): "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    ("mnist", "t10k-labels-idx1-ubyte"): "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
    ("fashion", "train-images-idx3-ubyte"): "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
    ("fashion", "train-labels-idx1-ubyte"): "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
    ("fashion", "t10k-images-idx3-ubyte"): "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
    ("fashion", "t10k-labels-idx1-ubyte"): "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
}
IMAGES_MAGIC, LABELS_MAGIC = 2051, 2049
HINT = "set BENCH_DATA_DIR (or --data-dir) to a folder with the IDX files, e.g. ../shared/data"


@dataclass(frozen=True)
class Dataset:
    """All images of one dataset: the official train part first, then the official test part."""

    name: str
    images: torch.Tensor  # uint8 [N, 28, 28]
    labels: torch.Tensor  # int64 [N]
    n_official_train: int


@dataclass(frozen=True)
class Split:
    """Index arrays into Dataset.images for each part."""

    train: np.ndarray
    val: np.ndarray
    test: np.ndarray


def default_data_dir() -> Path | None:
    value = os.environ.get("BENCH_DATA_DIR")
    return Path(value) if value else None


def locate(dataset: str, data_dir: Path) -> dict[str, Path]:
    """The four IDX files of a dataset under data_dir (raw or .gz), or a BenchError naming the first missing."""
    if not data_dir.is_dir():
        raise BenchError(f"data dir {data_dir} does not exist; {HINT}")
    found = {}
    for key, name in FILES.items():
        candidates = [data_dir / folder / f for folder in FOLDERS[dataset] for f in (name, name + ".gz")]
        try:
            hit = next((c for c in candidates if c.is_file()), None)
        except OSError as exc:  # e.g. a folder without read or search permission
            raise BenchError(f"cannot read {dataset} in {data_dir}: {exc.strerror or exc} ({exc.filename}); "
                             "fix its permissions or point --data-dir elsewhere") from None
        if hit is None:
            raise BenchError(f"missing {dataset} file {candidates[0].parent / name}[.gz]; {HINT}")
        found[key] = hit
    return found


MAX_IDX_BYTES = 10**9  # 1 GB: the real files hold 47 MB of images each


def read_idx(path: Path, dataset: str, magic: int) -> np.ndarray:
    """Decode one IDX file into a uint8 array, checking its header, size and sha256. A compressed
    file is decompressed only up to the size its header declares (no gzip bomb fills memory)."""
    dims = magic - 2048
    header = 4 + 4 * dims
    try:
        with gzip.open(path, "rb") if path.suffix == ".gz" else path.open("rb") as f:
            payload = f.read(header)
            declared = math.prod(int.from_bytes(payload[4 + 4 * i: 8 + 4 * i], "big") for i in range(dims))
            if declared > MAX_IDX_BYTES:
                raise BenchError(f"{path} declares {declared:,} bytes of data, more than any MNIST-like "
                                 "dataset holds; replace it")
            payload += f.read(declared + 1)  # one byte more than declared reveals padding
    except (OSError, EOFError, zlib.error) as exc:  # gzip.BadGzipFile is an OSError
        raise BenchError(f"cannot read {path}: {exc}; replace the file") from None
    if len(payload) < header or int.from_bytes(payload[:4], "big") != magic:
        raise BenchError(f"{path} is not an IDX file of the expected kind (wrong magic number); replace it")
    shape = [int.from_bytes(payload[4 + 4 * i: 8 + 4 * i], "big") for i in range(dims)]
    if dims == 3 and shape[1:] != [28, 28]:
        raise BenchError(f"{path} holds {shape[1]}x{shape[2]} images, expected 28x28; replace it")
    if len(payload) != header + int(np.prod(shape)):
        raise BenchError(f"{path} is truncated or padded ({len(payload)} bytes for shape {shape}); replace it")
    expected = SHA256.get((dataset, path.name.removesuffix(".gz")))
    if expected and hashlib.sha256(payload).hexdigest() != expected:
        raise BenchError(f"{path} fails its sha256 check (corrupt or a different file); replace it")
    return np.frombuffer(payload, dtype=np.uint8, offset=header).reshape(shape)


def download(dataset: str) -> Path:
    """Fetch with torchvision into the user cache; its raw IDX files are then read like any others."""
    from torchvision import datasets

    root = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "bench" / "data"
    cls = datasets.MNIST if dataset == "mnist" else datasets.FashionMNIST
    try:
        for train in (True, False):
            cls(str(root), train=train, download=True)
    except Exception as exc:  # noqa: BLE001 - any network failure becomes one line
        raise BenchError(f"could not download {dataset} ({type(exc).__name__}); {HINT}") from None
    return root


@functools.lru_cache(maxsize=4)
def load(dataset: str, data_dir: Path | None) -> Dataset:
    """Both official parts of a dataset as one uint8 tensor, decoded once per process."""
    files = locate(dataset, data_dir if data_dir is not None else download(dataset))
    parts = {}
    for key, path in files.items():
        parts[key] = read_idx(path, dataset, IMAGES_MAGIC if key.endswith("images") else LABELS_MAGIC)
    for part in ("train", "test"):
        n_img, n_lab = len(parts[f"{part}_images"]), len(parts[f"{part}_labels"])
        if n_img != n_lab:
            raise BenchError(f"{files[part + '_images']} has {n_img} images but "
                             f"{files[part + '_labels'].name} has {n_lab} labels; replace them")
    images = np.concatenate([parts["train_images"], parts["test_images"]])
    labels = np.concatenate([parts["train_labels"], parts["test_labels"]]).astype(np.int64)
    if labels.max() > 9:
        raise BenchError(f"{files['train_labels']} holds labels outside 0..9; replace it")
    return Dataset(dataset, torch.from_numpy(images), torch.from_numpy(labels), len(parts["train_images"]))


def _stratified(indices: np.ndarray, labels: np.ndarray, size: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Split indices into (a part of `size`, the rest), keeping class proportions."""
    if size >= len(indices):
        return indices, indices[:0]
    taken, rest = train_test_split(indices, train_size=size, stratify=labels[indices], random_state=seed)
    return np.sort(taken), np.sort(rest)


MIN_VAL = 500  # validation only selects the best epoch and model: it may be smaller than test


def val_size(subset: int, available: int) -> int:
    """Validation images for a training subset: max(500, subset / 7), all of them for subset 0."""
    return min(available, max(MIN_VAL, round(subset / 7))) if subset else available


def split(data: Dataset, how: str, subset: int, seed: int, test_size: int = 0) -> Split:
    """Deterministic train/val/test indices: same seed, same split on every machine.

    The parts come first, from all images and `seed` alone: random pools all 70k and splits them
    70/10/20; official keeps the official test set and takes 1/6 of the official train part for
    validation. Then `subset` shrinks training only (a stratified sample of that many training
    images; 0: all), validation keeps max(500, subset / 7) images, and the test part keeps
    `test_size` images (0: all). So the test images depend only on (how, seed, test_size): every
    ResNet and SVM with those three is tested on exactly the same images, whatever it trained on.
    """
    labels = data.labels.numpy()
    total = len(labels)
    if how == "random":
        train_val, test_part = _stratified(np.arange(total), labels, round(total * 0.8), seed)
        train_part, val_part = _stratified(train_val, labels, round(total * 0.7), seed + 1)
    else:
        official = np.arange(data.n_official_train)
        test_part = np.arange(data.n_official_train, total)
        train_part, val_part = _stratified(official, labels, round(len(official) * 5 / 6), seed + 1)
    if subset > len(train_part):
        raise BenchError(f"subset {subset} is larger than the {len(train_part)} training images of "
                         f"{data.name} ({how} split)")
    if subset and subset < 50:
        raise BenchError(f"subset {subset} is too small to train on; use at least 50 training images")
    if test_size > len(test_part) or 0 < test_size < 50:
        raise BenchError(f"test_size {test_size} must be from 50 to the {len(test_part)} test images of "
                         f"{data.name} ({how} split), or 0 for all")
    train, _ = _stratified(train_part, labels, subset or len(train_part), seed + 2)
    val, _ = _stratified(val_part, labels, val_size(subset, len(val_part)), seed + 3)
    test, _ = _stratified(test_part, labels, test_size or len(test_part), seed + 4)
    return Split(train, val, test)


@dataclass(frozen=True)
class Stats:
    """The training images' pixel mean and standard deviation (as fractions of 255): the one
    normalisation of every image bench feeds a ResNet (training, evaluation, trials, estimates)."""

    mean: float
    std: float

    @classmethod
    def of(cls, images: torch.Tensor) -> Stats:
        pixels = images.float()
        return cls(pixels.mean().item() / 255, pixels.std().item() / 255)

    def normalise(self, x: torch.Tensor, memory_format: torch.memory_format = torch.contiguous_format) -> torch.Tensor:
        """uint8 [B, 28, 28] -> standardised float [B, 1, 28, 28] in the model's memory format."""
        x = x.unsqueeze(1).float()
        return x.mul_(1.0 / (255.0 * self.std)).sub_(self.mean / self.std).contiguous(memory_format=memory_format)


def training_stats(data: Dataset, split: Split) -> Stats:
    """The normalisation of every run on `split`: the statistics of its training images."""
    return Stats.of(data.images[split.train])


# `training_stats` of each dataset's whole training part in the study's split (random, data seed 0),
# as its rows record them (train_mean, train_std; a subset's differ in the third decimal): how a
# step is normalised where the dataset is not loaded (`bench plan`'s calibration).
STUDY_STATS = {"mnist": Stats(0.130940, 0.308460), "fashion": Stats(0.286558, 0.353266)}
