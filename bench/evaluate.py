"""Evaluation of a trained ResNet: predictions over a split without autograd, the test metrics
(scikit-learn's), and the test metrics of the best-validation weights (selection on val, never on
test)."""

from __future__ import annotations

import copy

import numpy as np
import torch
from sklearn import metrics
from torch import nn

from bench import models, step_config
from bench.data import Stats
from bench.precision import autocast
from bench.spec import RunSpec

EVAL_BATCH = 512


@torch.inference_mode()
def predict(model: nn.Module, images, labels, spec: RunSpec, stats: Stats):
    """(mean loss, predictions) over a whole split, without autograd and in large batches."""
    model.eval()
    total, preds = 0.0, []
    fmt = step_config.memory_format_of(model)
    for start in range(0, len(labels), EVAL_BATCH):
        x = stats.normalise(images[start:start + EVAL_BATCH], fmt)
        y = labels[start:start + EVAL_BATCH]
        with autocast(spec):
            out = model(x)
        total += nn.functional.cross_entropy(out.float(), y, reduction="sum").item()
        preds.append(out.argmax(1).cpu())
    return total / max(len(labels), 1), torch.cat(preds).numpy()


def test_metrics(y_true: np.ndarray, y_pred: np.ndarray) -> dict:
    p, r, f1, _ = metrics.precision_recall_fscore_support(y_true, y_pred, average="macro", zero_division=0)
    cm = metrics.confusion_matrix(y_true, y_pred, labels=list(range(models.NUM_CLASSES)))
    return {"test_acc": metrics.accuracy_score(y_true, y_pred), "test_precision": p, "test_recall": r,
            "test_f1": f1, "confusion": cm.tolist()}


def measure(model, best, test_images, test_labels, spec, stats: Stats) -> dict:
    """Test metrics of the best-val weights seen so far (model selection on val, never on test)."""
    scratch = copy.deepcopy(model)
    scratch.load_state_dict(best["weights"])
    _, pred = predict(scratch, test_images, test_labels.to(spec.device), spec, stats)
    return {**test_metrics(test_labels.numpy(), pred), "val_acc": best["val_acc"], "val_loss": best["val_loss"],
            "best_epoch": best["epoch"], "weights": best["weights"]}
