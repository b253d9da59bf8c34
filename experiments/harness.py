"""The harness every experiment script shares: flags, data, one trial end to end, the JSON record.

A trial is the study's recipe: a model, a batch size, an optimizer, one epoch
over the training images with the training augmentation and no shuffling.
After training it measures two accuracies, named so they cannot be confused:

- ``test_acc``: held-out accuracy on the 10,000 test images (normalised with
  the training constants), which the study never measured;
- ``seed_metric_acc``: the study's own figure, accuracy on the training images
  passed through the training augmentation once more (a fresh random draw),
  which is what the study's "test" loop really read.
"""

import argparse
import dataclasses
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numba
import numpy as np

import tinycnn
from tinycnn import optim
from tinycnn.data import Augment, BatchLoader, DataError, Normalize, load_mnist
from tinycnn.train import evaluate, summary, train_epoch

from models import MODELS

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA_DIR = REPO / "data" / "mnist"
RESULTS_DIR = REPO / "experiments" / "results"
DEFAULT_SEED = 0


@dataclasses.dataclass(frozen=True)
class Trial:
    """One trial of the study, as ../shared/SEED.md lists it."""

    id: str
    model: str  # a key of models.MODELS
    batch_size: int
    optimizer: str  # "sgd" or "adam"
    lr: float
    momentum: float = 0.0
    weight_decay: float = 0.0
    study_reported_acc: float | None = None  # the study's figure (%), on augmented training images
    study_reported: str = ""  # the study's result as it wrote it
    epochs: int = 1
    shuffle: bool = False


def build_optimizer(trial, params):
    if trial.optimizer == "sgd":
        return optim.SGD(params, lr=trial.lr, momentum=trial.momentum, weight_decay=trial.weight_decay)
    if trial.optimizer == "adam":
        return optim.Adam(params, lr=trial.lr, weight_decay=trial.weight_decay)
    raise ValueError(f"unknown optimizer {trial.optimizer!r}")


def parse_args(description, trials, argv=None):
    parser = argparse.ArgumentParser(description=description)
    if len(trials) > 1:
        parser.add_argument("--trial", choices=[t.id for t in trials], help="run one trial (default: all)")
    parser.add_argument("--epochs", type=int, help="epochs (default: the study's, 1)")
    parser.add_argument("--batch-size", type=int, help="batch size (default: the study's)")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help=f"random seed (default {DEFAULT_SEED})")
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR,
                        help="directory of the four IDX files, gzipped or raw (default: the shipped MNIST)")
    parser.add_argument("--limit", type=int, help="train on the first N training images only (smoke runs)")
    parser.add_argument("--out", type=Path, help="where to write the JSON record")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    args = parser.parse_args(argv)
    for name in ("epochs", "batch_size", "limit"):
        value = getattr(args, name)
        if value is not None and value < 1:
            parser.error(f"--{name.replace('_', '-')} must be >= 1, got {value}")
    return args


def write_json_atomic(path, record):
    """Write ``record`` as JSON so that ``path`` holds either the old or the whole new file, never a part."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w") as stream:
            json.dump(record, stream, indent=2)
            stream.write("\n")
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.remove(temporary)
        raise


def run_trial(trial, data, args):
    """Train and evaluate one trial; return its record (a dict ready for JSON)."""
    epochs = args.epochs or trial.epochs
    batch_size = args.batch_size or trial.batch_size
    # Independent streams for each use of randomness, all from the one seed.
    init_rng, train_rng, metric_rng, shuffle_rng = (
        np.random.default_rng(s) for s in np.random.SeedSequence(args.seed).spawn(4)
    )
    tinycnn.manual_seed(args.seed)

    train_images, train_labels = data["train_images"], data["train_labels"]
    if args.limit:
        train_images, train_labels = train_images[: args.limit], train_labels[: args.limit]

    model = MODELS[trial.model](generator=init_rng)
    optimizer = build_optimizer(trial, model.parameters())
    optim.lr_scheduler.StepLR(optimizer, step_size=15, gamma=0.1)  # the study made one; one epoch never reaches a step
    params = model.num_parameters()

    print(f"\n== trial {trial.id}: {trial.model} model, {params:,} parameters, batch {batch_size}, "
          f"{trial.optimizer} lr {trial.lr} momentum {trial.momentum} weight decay {trial.weight_decay}, "
          f"{epochs} epoch(s), {len(train_images):,} training images, seed {args.seed}")
    print(summary(model, (1,) + train_images.shape[1:]))

    train_loader = BatchLoader(train_images, train_labels, batch_size, Augment(generator=train_rng),
                               shuffle=trial.shuffle, generator=shuffle_rng)
    history, diverged_at = [], None
    train_seconds = 0.0
    for epoch in range(1, epochs + 1):
        result = train_epoch(model, train_loader, optimizer, epoch=epoch, progress=not args.no_progress)
        train_seconds += result["seconds"]
        history.append(result)
        if result["diverged"]:
            diverged_at = {"epoch": epoch, "batch": result["diverged_at_batch"]}
            print(f"!! trial {trial.id}: the loss became non-finite at epoch {epoch}, batch "
                  f"{result['diverged_at_batch']}; training stopped, accuracies are measured as the study's were")
            break

    start = time.perf_counter()
    metric_loader = BatchLoader(train_images, train_labels, batch_size, Augment(generator=metric_rng))
    seed_metric_acc, seed_metric_correct, seed_metric_total = evaluate(
        model, metric_loader, desc="study's metric", progress=not args.no_progress)
    test_loader = BatchLoader(data["test_images"], data["test_labels"], batch_size, Normalize())
    test_acc, test_correct, test_total = evaluate(model, test_loader, desc="test", progress=not args.no_progress)
    eval_seconds = time.perf_counter() - start

    final_losses = history[-1]["losses"]
    record = {
        "trial": trial.id,
        "model": trial.model,
        "params": params,
        "epochs": epochs,
        "epochs_run": len(history),
        "batch_size": batch_size,
        "optimizer": trial.optimizer,
        "lr": trial.lr,
        "momentum": trial.momentum,
        "weight_decay": trial.weight_decay,
        "shuffle": trial.shuffle,
        "augmentation": "centre-crop 22 p=0.1, bilinear resize 28, rotation U[-15,15] deg nearest fill 0, "
                        "normalise (0.1307, 0.3081)",
        "seed": args.seed,
        "train_images": len(train_images),
        "test_acc": test_acc,
        "test_correct": test_correct,
        "test_total": test_total,
        "seed_metric_acc": seed_metric_acc,
        "seed_metric_correct": seed_metric_correct,
        "seed_metric_total": seed_metric_total,
        "running_train_acc": history[-1]["running_acc"],
        "final_train_loss": final_losses[-1] if final_losses else None,
        "diverged": diverged_at is not None,
        "diverged_at": diverged_at,
        "train_seconds": train_seconds,
        "eval_seconds": eval_seconds,
        "study_reported_acc": trial.study_reported_acc,
        "study_reported": trial.study_reported,
        "loss_per_batch": [loss for epoch in history for loss in epoch["losses"]],
        "data_dir": str(args.data_dir),
        "numba_threads": numba.get_num_threads(),
    }
    print(f"-- trial {trial.id}: held-out test accuracy {test_acc:.2f}% ({test_correct}/{test_total}); "
          f"study's metric (augmented training images) {seed_metric_acc:.2f}% "
          f"({seed_metric_correct}/{seed_metric_total}), study reported {trial.study_reported}; "
          f"running train accuracy {record['running_train_acc']:.2f}%; final loss {record['final_train_loss']}; "
          f"{params:,} parameters; trained in {train_seconds:.1f} s"
          + ("; DIVERGED" if record["diverged"] else ""))
    return record


def main(description, trials, default_out, argv=None):
    """Parse flags, load the data, run the selected trials, write the JSON record(s). Returns the exit status."""
    args = parse_args(description, trials, argv)
    selected = [t for t in trials if getattr(args, "trial", None) in (None, t.id)]
    try:
        data = load_mnist(args.data_dir)
    except DataError as error:
        print(f"error: {error}", file=sys.stderr)
        print("no result was written", file=sys.stderr)
        return 2
    records = [run_trial(trial, data, args) for trial in selected]
    out = args.out or default_out
    write_json_atomic(out, records[0] if len(records) == 1 else {"trials": records})
    print(f"record written to {out}")
    return 0
