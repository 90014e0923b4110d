"""Q1(b): sklearn SVC on pixels scaled to [0, 1]; nothing timed but sklearn's own fit and predict."""

from __future__ import annotations

import time

import numpy as np
from sklearn import metrics
from sklearn.model_selection import train_test_split
from sklearn.svm import SVC

from bench.data import Dataset, Split
from bench.evaluate import test_metrics
from bench.spec import RunSpec
from bench.train import CellResult

CACHE_SIZE_MB = 1000  # sklearn's kernel cache; stated in every row


def run_svm(spec: RunSpec, data: Dataset, split: Split) -> CellResult:
    """Fit on a stratified subsample of n_train training images; report val and test metrics."""
    labels = data.labels.numpy()
    train = split.train
    if spec.n_train < len(train):
        train, _ = train_test_split(train, train_size=spec.n_train, stratify=labels[train],
                                    random_state=spec.seed)
    flat = data.images.reshape(len(labels), -1)

    def pixels(idx: np.ndarray) -> np.ndarray:
        return flat[idx].numpy().astype(np.float32) / 255.0

    x_train, x_val, x_test = pixels(train), pixels(split.val), pixels(split.test)
    model = SVC(kernel=spec.kernel, degree=spec.degree, C=spec.C, gamma=spec.gamma,
                cache_size=CACHE_SIZE_MB, random_state=spec.seed)
    start = time.perf_counter()
    model.fit(x_train, labels[train])
    fit_time = time.perf_counter() - start
    start = time.perf_counter()
    pred = model.predict(x_test)
    predict_time = time.perf_counter() - start
    val_acc = metrics.accuracy_score(labels[split.val], model.predict(x_val))
    return CellResult(spec, metrics={
        **test_metrics(labels[split.test], pred), "val_acc": val_acc, "fit_time_s": fit_time,
        "predict_time_s": predict_time, "train_time_s": fit_time, "n_train_used": len(train),
        "n_support": int(model.n_support_.sum()), "cache_size_mb": CACHE_SIZE_MB,
        "images_per_s": len(train) / fit_time,
    })
