"""The harness every experiment script shares: flags, data, one trial end to end, the JSON record.

A trial is the study's recipe: a model, a batch size, an optimizer, one epoch
over the training images with the training augmentation and no shuffling.
After training it measures two accuracies, named so they cannot be confused:

- ``test_acc``: held-out accuracy on the 10,000 test images (normalised with
  the training constants), which the study never measured;
- ``study_metric_acc``: the study's own figure, accuracy on the training images
  passed through the training augmentation once more (a fresh random draw),
  which is what the study's "test" loop really read.

A run whose loss stops being finite is not an error: training stops, the
record says ``diverged`` and where, and both accuracies are measured as the
study measured them (a NaN network predicts class 0 for every image).
"""

import argparse
import dataclasses
import os
import sys
import time
from pathlib import Path

import numba
import numpy as np

import tinycnn
from tinycnn import optim
from tinycnn.data import Augment, BatchLoader, DataError, Normalize, load_mnist
from tinycnn.files import write_json
from tinycnn.kernels.threads import blas_in_use
from tinycnn.memory import keep_freed_memory
from tinycnn.train import evaluate, summary, train_epoch

from models import MODELS

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA_DIR = REPO / "data" / "mnist"
RESULTS_DIR = REPO / "experiments" / "results"
DEFAULT_SEED = 0

# Every record has these fields; report.py refuses a record without one of them.
RECORD_FIELDS = (
    "trial", "study_trial", "ours", "description", "model", "params", "epochs", "batch_size", "optimizer", "lr",
    "momentum", "weight_decay", "shuffle", "seed", "train_images", "test_acc", "study_metric_acc",
    "running_train_acc", "final_train_loss", "diverged", "diverged_at", "train_seconds", "eval_seconds",
    "seconds_per_epoch", "study_reported_acc", "study_reported", "test_acc_per_epoch",
)


@dataclasses.dataclass(frozen=True)
class Trial:
    """One trial: the study's (as docs/study.md lists it) or one of ours, marked ``ours``."""

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
    ours: bool = False  # an extra trial of this replication, not one of the study's
    study_trial: str | None = None  # for ours: the study's trial it varies
    description: str = ""
    seed: int | None = None  # a seed of its own (e.g. seed-robustness trials); default: --seed


def build_optimizer(trial, params):
    if trial.optimizer == "sgd":
        return optim.SGD(params, lr=trial.lr, momentum=trial.momentum, weight_decay=trial.weight_decay)
    if trial.optimizer == "adam":
        return optim.Adam(params, lr=trial.lr, weight_decay=trial.weight_decay)
    raise ValueError(f"unknown optimizer {trial.optimizer!r}")


def parse_args(description, trials, argv=None):
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--trial", choices=[t.id for t in trials], help="run one trial (default: all of them)")
    parser.add_argument("--epochs", type=int, help="epochs (default: the trial's)")
    parser.add_argument("--batch-size", type=int, help="batch size (default: the trial's)")
    parser.add_argument("--lr", type=float, help="learning rate (default: the trial's)")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help=f"random seed (default {DEFAULT_SEED})")
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR,
                        help="directory of the four IDX files, gzipped or raw (default: the shipped MNIST)")
    parser.add_argument("--limit", type=int, help="train on the first N training images only (smoke runs)")
    parser.add_argument("--out", type=Path,
                        help="the JSON record's file when one trial runs, the folder for the records when "
                             "several do (default: experiments/results)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    parser.add_argument("--no-plots", action="store_true", help="no pictures")
    args = parser.parse_args(argv)
    for name in ("epochs", "batch_size", "limit"):
        value = getattr(args, name)
        if value is not None and value < 1:
            parser.error(f"--{name.replace('_', '-')} must be >= 1, got {value}")
    return args


def with_overrides(trial, args):
    """The trial with the command line's --epochs, --batch-size and --lr applied, and its seed settled."""
    return dataclasses.replace(
        trial, epochs=args.epochs or trial.epochs, batch_size=args.batch_size or trial.batch_size,
        lr=args.lr if args.lr is not None else trial.lr, seed=trial.seed if trial.seed is not None else args.seed)


def random_streams(seed):
    """Independent generators for each use of randomness, all from the one seed: init, train, metric, shuffle."""
    tinycnn.manual_seed(seed)
    return [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(4)]


def print_header(trial, params, train_images, model):
    print(f"\n== trial {trial.id}{' (ours)' if trial.ours else ''}: {trial.model} model, {params:,} parameters, "
          f"batch {trial.batch_size}, {trial.optimizer} lr {trial.lr} momentum {trial.momentum} "
          f"weight decay {trial.weight_decay}, {trial.epochs} epoch(s), shuffle {trial.shuffle}, "
          f"{len(train_images):,} training images, seed {trial.seed}")
    print(summary(model, (1,) + train_images.shape[1:]))


def train(trial, model, train_loader, test_loader, progress):
    """The epochs of one trial; stops at a diverged epoch. Returns per-epoch results, test accuracies, eval seconds.

    With more than one epoch the held-out accuracy is measured after each
    (the record's curve); with one, it is measured once, afterwards.
    """
    optimizer = build_optimizer(trial, model.parameters())
    scheduler = optim.lr_scheduler.StepLR(optimizer, step_size=15, gamma=0.1)  # as the study's (never reached)
    history, test_acc_per_epoch, eval_seconds = [], [], 0.0
    for epoch in range(1, trial.epochs + 1):
        result = train_epoch(model, train_loader, optimizer, epoch=epoch, progress=progress)
        scheduler.step()
        history.append(result)
        if result["diverged"]:
            print(f"!! trial {trial.id}: the loss became non-finite at epoch {epoch}, batch "
                  f"{result['diverged_at_batch']}; training stopped, accuracies are measured as the study's were")
            break
        if trial.epochs > 1:
            start = time.perf_counter()
            test_acc_per_epoch.append(evaluate(model, test_loader, desc="test", progress=progress)[0])
            eval_seconds += time.perf_counter() - start
    return history, test_acc_per_epoch, eval_seconds


def measure(model, metric_loader, test_loader, progress):
    """The two accuracies: the study's metric (augmented training images) and held-out test accuracy."""
    study_metric = evaluate(model, metric_loader, desc="study's metric", progress=progress)
    test = evaluate(model, test_loader, desc="test", progress=progress, return_predictions=True)
    return study_metric, test


def make_record(trial, params, train_images, history, test_acc_per_epoch, study_metric, test, seconds, args):
    """The trial's JSON record: its configuration, both accuracies, the curves, timings and the BLAS it ran on."""
    study_metric_acc, study_metric_correct, study_metric_total = study_metric
    test_acc, test_correct, test_total, _ = test
    diverged = history[-1]["diverged"]
    final_losses = history[-1]["losses"]
    train_seconds, eval_seconds = seconds
    if len(test_acc_per_epoch) < len(history):  # one epoch, or a diverged last one: the final measurement
        test_acc_per_epoch = test_acc_per_epoch + [test_acc]
    return {
        "trial": trial.id,
        "study_trial": trial.study_trial or (None if trial.ours else trial.id),
        "ours": trial.ours,
        "description": trial.description,
        "model": trial.model,
        "params": params,
        "epochs": trial.epochs,
        "epochs_run": len(history),
        "batch_size": trial.batch_size,
        "optimizer": trial.optimizer,
        "lr": trial.lr,
        "momentum": trial.momentum,
        "weight_decay": trial.weight_decay,
        "shuffle": trial.shuffle,
        "augmentation": "centre-crop 22 p=0.1, bilinear resize 28, rotation U[-15,15] deg nearest fill 0, "
                        "normalise (0.1307, 0.3081)",
        "seed": trial.seed,
        "train_images": len(train_images),
        "test_acc": test_acc,
        "test_correct": test_correct,
        "test_total": test_total,
        "test_acc_per_epoch": test_acc_per_epoch,
        "study_metric_acc": study_metric_acc,
        "study_metric_correct": study_metric_correct,
        "study_metric_total": study_metric_total,
        "running_train_acc": history[-1]["running_acc"],
        "final_train_loss": final_losses[-1] if final_losses else None,
        "diverged": diverged,
        "diverged_at": {"epoch": len(history), "batch": history[-1]["diverged_at_batch"]} if diverged else None,
        "train_seconds": train_seconds,
        "eval_seconds": eval_seconds,
        "seconds_per_epoch": train_seconds / len(history),
        "study_reported_acc": trial.study_reported_acc,
        "study_reported": trial.study_reported,
        "loss_per_batch": [loss for epoch in history for loss in epoch["losses"]],
        "running_acc_per_batch": [acc for epoch in history for acc in epoch["running_accs"]],
        "data_dir": str(args.data_dir),
        "numba_threads": numba.get_num_threads(),
        # float32 results move with the BLAS kernel (see README, "Same seed, same numbers")
        "blas": [{"library": Path(lib["filepath"]).name, "version": lib["version"], "kernel": lib["architecture"]}
                 for lib in blas_in_use()],
        "OPENBLAS_CORETYPE": os.environ.get("OPENBLAS_CORETYPE"),
    }


def print_outcome(record):
    diverged = record["diverged_at"]
    print(f"-- trial {record['trial']}: held-out test accuracy {record['test_acc']:.2f}% "
          f"({record['test_correct']}/{record['test_total']}); study's metric (augmented training images) "
          f"{record['study_metric_acc']:.2f}% ({record['study_metric_correct']}/{record['study_metric_total']}), "
          f"study reported {record['study_reported'] or '-'}; running train accuracy "
          f"{record['running_train_acc']:.2f}%; final loss {record['final_train_loss']}; "
          f"{record['params']:,} parameters; trained in {record['train_seconds']:.1f} s"
          + (f"; DIVERGED at epoch {diverged['epoch']}, batch {diverged['batch']}" if diverged else ""))


def run_trial(trial, data, args, plots=None):
    """Train and evaluate one trial; return its record (a dict ready for JSON)."""
    trial = with_overrides(trial, args)
    init_rng, train_rng, metric_rng, shuffle_rng = random_streams(trial.seed)
    train_images, train_labels = data["train_images"], data["train_labels"]
    if args.limit:
        train_images, train_labels = train_images[: args.limit], train_labels[: args.limit]
    model = MODELS[trial.model](generator=init_rng)
    params = model.num_parameters()
    print_header(trial, params, train_images, model)

    progress = not args.no_progress
    train_loader = BatchLoader(train_images, train_labels, trial.batch_size, Augment(generator=train_rng),
                               shuffle=trial.shuffle, generator=shuffle_rng)
    test_loader = BatchLoader(data["test_images"], data["test_labels"], 1000, Normalize())
    history, test_acc_per_epoch, eval_seconds = train(trial, model, train_loader, test_loader, progress)
    start = time.perf_counter()
    metric_loader = BatchLoader(train_images, train_labels, trial.batch_size, Augment(generator=metric_rng))
    study_metric, test = measure(model, metric_loader, test_loader, progress)
    eval_seconds += time.perf_counter() - start

    train_seconds = sum(result["seconds"] for result in history)
    record = make_record(trial, params, train_images, history, test_acc_per_epoch, study_metric, test,
                         (train_seconds, eval_seconds), args)
    print_outcome(record)
    if plots is not None:
        plots(record, train_images, train_labels, Augment(generator=np.random.default_rng(trial.seed)),
              data["test_images"], data["test_labels"], test[3])
    return record


def estimate_seconds(trial, train_images):
    """A rough time for a trial on a 2-core machine, from measured per-image costs, to print before starting."""
    per_image = {"baseline": 1 / 550, "reduced": 1 / 5000, "minimal": 1 / 14000}[trial.model]
    return per_image * train_images * trial.epochs + per_image * (train_images + 10_000) / 3


def main(description, trials, default_out=None, argv=None):
    """Parse flags, load the data, run the selected trials, write one JSON record each. Returns the exit status.

    ``default_out(trial)`` gives a trial's record file when --out is not set
    (default: experiments/results/<trial id>.json).
    """
    args = parse_args(description, trials, argv)
    keep_freed_memory()  # a training program: reuse freed memory instead of re-faulting it (tinycnn/memory.py)
    selected = [t for t in trials if args.trial in (None, t.id)]
    try:
        data = load_mnist(args.data_dir)
    except DataError as error:
        print(f"error: {error}", file=sys.stderr)
        print("no result was written", file=sys.stderr)
        return 2
    plots = None
    if not args.no_plots:
        from plots import trial_figure
        plots = trial_figure()  # None, with one message, when matplotlib is not installed

    images = min(args.limit or len(data["train_images"]), len(data["train_images"]))
    estimates = [estimate_seconds(dataclasses.replace(t, epochs=args.epochs or t.epochs), images) for t in selected]
    print("trials to run: " + ", ".join(f"{t.id} (~{s:.0f} s)" for t, s in zip(selected, estimates))
          + f"; about {sum(estimates) / 60:.1f} min in all on a 2-core machine")
    for trial in selected:
        record = run_trial(trial, data, args, plots)
        if args.out is not None:
            out = args.out if len(selected) == 1 else args.out / f"{trial.id}.json"
        else:
            out = default_out(trial) if default_out else RESULTS_DIR / f"{trial.id}.json"
        write_json(out, record)
        print(f"record written to {out}")
    return 0
