"""The harness every experiment script shares: flags, data, one trial end to end, the JSON record.

A trial is a model, a batch size, an optimizer and a schedule, some epochs
over the training images with a training augmentation. The study's recipe
is one epoch, no shuffling, no validation split. After training the harness
measures two accuracies, named so they cannot be confused:

- ``test_acc``: held-out accuracy on the 10,000 test images (normalised with
  the training constants), which the study never measured;
- ``study_metric_acc``: the study's own figure, accuracy on the training images
  passed through the training augmentation once more (a fresh random draw),
  which is what the study's "test" loop really read.

With a validation split (``--val N``, or a trial's ``val``), N training
images, drawn with the seed, are held out of training; after every epoch
the model is scored on them, the epoch with the best validation accuracy is
kept (a later epoch wins a tie), and the test set is evaluated once, on the
kept epoch. Without one, a run of several epochs measures test accuracy
after each, as a curve (nothing is chosen by it).

A trial with ``checkpoint`` (or any run given ``--checkpoints``) writes
after every epoch a checkpoint to resume from (``--resume``), and the kept
epoch's weights; ``--stop-after K`` stops after epoch K as an interrupted
run would. A resumed run equals the uninterrupted one bit for bit.

A run that diverges is not an error. The record says ``diverged`` and
where it happened: the first batch whose loss was over a thousand times
the first one's, or whose gradients or optimizer state stopped being finite
(``tinycnn.train.train_epoch``); a line says so on screen at that batch.
Training goes on as the study's did until the loss itself stops being
finite, and both accuracies are measured as the study measured them (a NaN
network predicts class 0 for every image).

Where the records, checkpoints and pictures go, and the checks made on
those places before training, are ``outputs.py``'s: by default a folder
git ignores, so that a run never changes a committed file.
"""

import argparse
import concurrent.futures
import dataclasses
import gc
import os
import sys
import time
from pathlib import Path

import llvmlite.binding
import numba
import numpy as np

import tinycnn
from tinycnn import optim
from tinycnn.compile import compiling_notice, start_helper, warm_up
from tinycnn.data import Augment, BatchLoader, DataError, Normalize, load_mnist
from tinycnn.data.mnist import IMAGE_SIZE
from tinycnn.files import write_json
from tinycnn.kernels.fast.threads import blas_in_use
from tinycnn.memory import keep_freed_memory
from tinycnn.random import default_generator
from tinycnn.train import evaluate, summary, train_epoch

import outputs
from models import MODELS
from outputs import REPO, RESULTS_DIR, RUNS_DIR, OutputError, portable_path

DEFAULT_DATA_DIR = REPO / "data" / "mnist"
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
    optimizer: str  # "sgd", "adam" or "adamw"
    lr: float  # with the "onecycle" schedule, its peak
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
    nesterov: bool = False
    schedule: str = "study"  # "study": StepLR(15, 0.1) per epoch, as the study's; "onecycle": OneCycleLR per batch
    crop_probability: float = 0.1  # the study's augmentation: centre-crop 22 with this probability,
    degrees: float = 15.0  # then rotation by an angle drawn from [-degrees, degrees]
    translate: float = 0.0  # then a shift of up to this fraction of the size (ours; the study had none)
    val: int = 0  # training images held out to choose the epoch (the study had none)
    checkpoint: bool = False  # write checkpoints (resume, and the kept epoch's weights)


def build_optimizer(trial, params):
    if trial.optimizer == "sgd":
        return optim.SGD(params, lr=trial.lr, momentum=trial.momentum, weight_decay=trial.weight_decay,
                         nesterov=trial.nesterov)
    if trial.optimizer == "adam":
        return optim.Adam(params, lr=trial.lr, weight_decay=trial.weight_decay)
    if trial.optimizer == "adamw":
        return optim.AdamW(params, lr=trial.lr, weight_decay=trial.weight_decay)
    raise ValueError(f"unknown optimizer {trial.optimizer!r}")


def build_scheduler(trial, optimizer, steps_per_epoch):
    """(schedule, stepped every batch?): the study's StepLR per epoch, or OneCycleLR per batch."""
    if trial.schedule == "study":
        return optim.lr_scheduler.StepLR(optimizer, step_size=15, gamma=0.1), False  # never reached in the study
    if trial.schedule == "onecycle":
        return optim.lr_scheduler.OneCycleLR(optimizer, max_lr=trial.lr, epochs=trial.epochs,
                                             steps_per_epoch=steps_per_epoch), True
    raise ValueError(f"unknown schedule {trial.schedule!r}")


def parse_args(description, trials, argv=None):
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--trial", choices=[t.id for t in trials], help="run one trial (default: all of them)")
    parser.add_argument("--epochs", type=int, help="epochs (default: the trial's)")
    parser.add_argument("--batch-size", type=int, help="batch size (default: the trial's)")
    parser.add_argument("--lr", type=float, help="learning rate (default: the trial's)")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED,
                        help=f"random seed (default {DEFAULT_SEED}; a trial with a seed of its own keeps it)")
    parser.add_argument("--val", type=int, help="hold out this many training images to choose the epoch "
                                                "(default: the trial's; 0 for the study's)")
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR,
                        help="directory of the four IDX files, gzipped or raw (default: the shipped MNIST)")
    parser.add_argument("--limit", type=int, help="train on the first N training images only (smoke runs)")
    parser.add_argument("--out", type=Path,
                        help="where every output of this run goes: a folder (records, checkpoints/, plots/), or a "
                             ".json file for the record of one trial, with checkpoints/ and plots/ beside it "
                             f"(default: {RUNS_DIR.relative_to(REPO)}, which git ignores)")
    parser.add_argument("--update-results", action="store_true",
                        help=f"write into {RESULTS_DIR.relative_to(REPO)}, the committed results, to re-make them "
                             "(only the trials as defined: not with --limit, --lr, --seed and the like)")
    parser.add_argument("--checkpoints", type=Path, help="the folder of the checkpoints (default: checkpoints/ in "
                                                         "the output folder; trials that keep none write them "
                                                         "only when this is given)")
    parser.add_argument("--resume", action="store_true", help="continue from the last epoch's checkpoint")
    parser.add_argument("--stop-after", type=int, metavar="K", help="stop after epoch K, as an interrupted run")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    parser.add_argument("--no-plots", action="store_true", help="no pictures")
    parser.add_argument("--kernels", choices=tinycnn.backend.MODES, default=tinycnn.backend.mode(),
                        help="the kernels every op runs: fast (the default), or reference, the naive twins, each op "
                             "its own call (fusion off): minutes instead of seconds; the same as TINYCNN_KERNELS")
    args = parser.parse_args(argv)
    for name in ("epochs", "batch_size", "limit", "stop_after"):
        value = getattr(args, name)
        if value is not None and value < 1:
            parser.error(f"--{name.replace('_', '-')} must be >= 1, got {value}")
    if args.val is not None and args.val < 0:
        parser.error(f"--val must be >= 0, got {args.val}")
    args.changed = changed_settings(args)
    if args.update_results and (args.changed or args.out is not None):
        parser.error(f"--update-results re-makes the committed results, which are the trials as defined; drop "
                     f"{', '.join(args.changed + (['--out'] if args.out is not None else []))}")
    return args


def changed_settings(args):
    """The flags by which this run differs from the trials as committed (a smoke run, an experiment of one's own)."""
    changed = [f"--{name.replace('_', '-')}" for name in ("limit", "epochs", "batch_size", "lr", "val")
               if getattr(args, name) is not None]
    if args.seed != DEFAULT_SEED:
        changed.append("--seed")
    if Path(args.data_dir).resolve() != DEFAULT_DATA_DIR.resolve():
        changed.append("--data-dir")
    if args.kernels != "fast":  # the committed records are the fast kernels'
        changed.append(f"--kernels {args.kernels}")
    return changed


def with_overrides(trial, args):
    """The trial with the command line's --epochs, --batch-size, --lr and --val applied, and its seed settled."""
    return dataclasses.replace(
        trial, epochs=args.epochs or trial.epochs, batch_size=args.batch_size or trial.batch_size,
        lr=args.lr if args.lr is not None else trial.lr, seed=trial.seed if trial.seed is not None else args.seed,
        val=args.val if args.val is not None else trial.val,
        checkpoint=trial.checkpoint or args.checkpoints is not None)


def random_streams(seed):
    """Independent generators for each use of randomness, all from the one seed:
    init, train (augmentation), metric, shuffle, and the validation split."""
    tinycnn.manual_seed(seed)
    return [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(5)]


def split_data(data, trial, limit, split_rng):
    """(train images, train labels, validation images, validation labels): ``val`` drawn out, then ``limit``."""
    images, labels = data["train_images"], data["train_labels"]
    if trial.val >= len(images):
        raise ValueError(f"--val {trial.val} leaves no training images (there are {len(images):,})")
    if trial.val:
        held = np.zeros(len(images), dtype=bool)
        held[split_rng.choice(len(images), trial.val, replace=False)] = True
        train_images, train_labels, val_images, val_labels = images[~held], labels[~held], images[held], labels[held]
    else:  # the arrays as read, not a copy: 47 MB of fresh pages cost 0.1 s on these machines
        train_images, train_labels, val_images, val_labels = images, labels, images[:0], labels[:0]
    if limit:
        train_images, train_labels = train_images[:limit], train_labels[:limit]
    return train_images, train_labels, val_images, val_labels


def augmentation_text(trial):
    crop = f"centre-crop 22 p={trial.crop_probability:g}, bilinear resize 28, " if trial.crop_probability else ""
    shift = f" then shift by whole pixels up to {trial.translate:g} of the size," if trial.translate else ""
    return (f"{crop}rotation U[-{trial.degrees:g},{trial.degrees:g}] deg{shift} nearest fill 0, "
            "normalise (0.1307, 0.3081)")


def make_augment(trial, generator):
    return Augment(generator=generator, crop_probability=trial.crop_probability, degrees=trial.degrees,
                   translate=trial.translate)


def print_header(trial, params, train_images, model):
    """The trial's line, then the layer table. (Its kernels are loaded or compiled by then: ``main`` does it for
    every selected trial before the first starts, so nothing timed includes it.)"""
    print(f"\n== trial {trial.id}{' (ours)' if trial.ours else ''}: {trial.model} model, {params:,} parameters, "
          f"batch {trial.batch_size}, {trial.optimizer} lr {trial.lr} momentum {trial.momentum} "
          f"weight decay {trial.weight_decay}, {trial.epochs} epoch(s), shuffle {trial.shuffle}, "
          f"{len(train_images):,} training images"
          + (f", {trial.val:,} held out for validation" if trial.val else "") + f", seed {trial.seed}"
          + ("; on the reference kernels (the naive twins, each op its own call)"
             if tinycnn.backend.mode() == "reference" else ""), flush=True)
    print(summary(model, (1,) + train_images.shape[1:]))


@dataclasses.dataclass
class Progress:
    """What a run has done so far: what a checkpoint must hold, besides the model, optimizer and schedule."""

    epoch: int = 0
    history: list = dataclasses.field(default_factory=list)  # train_epoch's result per epoch
    test_acc_per_epoch: list = dataclasses.field(default_factory=list)
    val_acc_per_epoch: list = dataclasses.field(default_factory=list)
    kept_epoch: int | None = None
    kept_state: dict | None = None  # the kept epoch's model.state_dict()
    eval_seconds: float = 0.0


class Checkpoints:
    """A trial's two files: ``<id>.last.npz`` to resume from, ``<id>.npz`` with the kept epoch's weights.

    ``settings`` are what else a resumed run must share with the one that
    wrote the checkpoint, besides the trial: the --limit and the data.
    """

    def __init__(self, folder, trial, settings=None):
        self.folder, self.trial, self.settings = Path(folder), trial, settings or {}
        self.last, self.kept = self.folder / f"{trial.id}.last.npz", self.folder / f"{trial.id}.npz"

    def save_last(self, model, optimizer, scheduler, generators, progress):
        state = dataclasses.asdict(progress)
        tinycnn.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                      "scheduler": scheduler.state_dict(), "progress": state,
                      "generators": [g.bit_generator.state for g in generators],
                      "trial": dataclasses.asdict(self.trial), "settings": self.settings}, self.last)

    def save_kept(self, progress, record=None):
        tinycnn.save({"model_name": self.trial.model, "model": progress.kept_state, "epoch": progress.kept_epoch,
                      "trial": dataclasses.asdict(self.trial), "record": record or {}}, self.kept)

    def resume(self, model, optimizer, scheduler, generators):
        """Load the last checkpoint into the objects given; returns the Progress it holds."""
        state = tinycnn.load(self.last)
        if state["trial"] != dataclasses.asdict(self.trial):
            raise ValueError(f"{self.last}: written by another configuration of trial {self.trial.id}; "
                             "resume with the same flags, or start afresh without --resume")
        saved = state.get("settings", {})
        differ = [key for key in self.settings if saved.get(key) != self.settings[key]]
        if differ:
            shown = "; ".join("other data files" if key == "data_sha256" else
                              f"{key} {saved.get(key)!r} there, {self.settings[key]!r} here" for key in differ)
            raise ValueError(f"{self.last}: written by a run with other settings ({shown}); resume with the same "
                             "ones, or start afresh without --resume")
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        for generator, saved in zip(generators, state["generators"]):
            generator.bit_generator.state = saved
        return Progress(**state["progress"])


def train(trial, model, loaders, args, train_rng, shuffle_rng, checkpoints_folder, data_sha256=None):
    """The epochs of one trial; stops where the loss stops being finite (or at --stop-after). Returns the run's
    Progress and Checkpoints (None if the trial keeps none).

    With a validation split, the kept epoch is the best on it; without one
    and more than one epoch, test accuracy is measured after each epoch.
    """
    train_loader, val_loader, test_loader = loaders
    optimizer = build_optimizer(trial, model.parameters())
    scheduler, per_batch = build_scheduler(trial, optimizer, len(train_loader))
    generators = (train_rng, shuffle_rng, default_generator())  # augmentation, order, dropout
    settings = {"limit": args.limit, "data_sha256": data_sha256}
    checkpoints = Checkpoints(checkpoints_folder, trial, settings) if trial.checkpoint else None
    progress = Progress()
    if args.resume:
        if checkpoints is None or not checkpoints.last.exists():
            raise ValueError(f"--resume: no checkpoint of trial {trial.id} to resume from"
                             + (f" ({checkpoints.last} does not exist)" if checkpoints else ""))
        progress = checkpoints.resume(model, optimizer, scheduler, generators)
        print(f"resumed trial {trial.id} after epoch {progress.epoch} from {checkpoints.last}")
    while progress.epoch < trial.epochs and not stopped(progress):
        progress.epoch += 1
        first_loss = progress.history[0]["losses"][0] if progress.history and progress.history[0]["losses"] else None
        result = train_epoch(model, train_loader, optimizer, epoch=progress.epoch, progress=not args.no_progress,
                             scheduler=scheduler if per_batch else None, first_loss=first_loss)
        if not per_batch:
            scheduler.step()
        progress.history.append(result)
        if result["stopped"]:
            print(f"!! trial {trial.id}: the loss became non-finite at epoch {progress.epoch}, batch "
                  f"{len(result['losses'])}; training stopped, accuracies are measured as the study's were")
        else:
            score_epoch(model, progress, val_loader, test_loader, trial, args)
        if checkpoints is not None:
            checkpoints.save_last(model, optimizer, scheduler, generators, progress)
        if args.stop_after == progress.epoch:
            break
    return progress, checkpoints


def stopped(progress):
    """Whether training stopped early because the loss stopped being finite."""
    return bool(progress.history) and progress.history[-1]["stopped"]


def divergence(history):
    """Where the run first diverged, {epoch, batch, because}, or None."""
    for epoch, result in enumerate(history, start=1):
        if result["diverged"]:
            return {"epoch": epoch, "batch": result["diverged_at_batch"], "because": result["diverged_because"]}
    return None


def score_epoch(model, progress, val_loader, test_loader, trial, args):
    """After an epoch: validation (and keep the epoch if it is the best so far), or the test curve."""
    start = time.perf_counter()
    if val_loader is not None:
        val_acc = evaluate(model, val_loader, desc="validation", progress=not args.no_progress)[0]
        progress.val_acc_per_epoch.append(val_acc)
        if progress.kept_epoch is None or val_acc >= max(progress.val_acc_per_epoch[:-1], default=-1.0):
            progress.kept_epoch, progress.kept_state = progress.epoch, model.state_dict()
        print(f"   epoch {progress.epoch}: validation accuracy {val_acc:.2f}%"
              f"{' (kept)' if progress.kept_epoch == progress.epoch else ''}")
    elif trial.epochs > 1:
        progress.test_acc_per_epoch.append(evaluate(model, test_loader, desc="test", progress=not args.no_progress)[0])
    progress.eval_seconds += time.perf_counter() - start


def measure(model, metric_loader, test_loader, progress):
    """The two accuracies: the study's metric (augmented training images) and held-out test accuracy."""
    study_metric = evaluate(model, metric_loader, desc="study's metric", progress=progress)
    test = evaluate(model, test_loader, desc="test", progress=progress, return_predictions=True)
    return study_metric, test


def make_record(trial, params, train_images, progress, study_metric, test, seconds, args, data):
    """The trial's JSON record: its configuration, both accuracies, the curves, timings, the data (by its files'
    SHA-256) and what it ran on."""
    history = progress.history
    study_metric_acc, study_metric_correct, study_metric_total = study_metric
    test_acc, test_correct, test_total, _ = test
    diverged = divergence(history)
    final_losses = history[-1]["losses"]
    train_seconds, eval_seconds = seconds
    test_acc_per_epoch = progress.test_acc_per_epoch
    if not trial.val and len(test_acc_per_epoch) < len(history):  # one epoch, or a diverged last one
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
        "augmentation": augmentation_text(trial),
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
        "diverged": diverged is not None,
        "diverged_at": diverged,
        "train_seconds": train_seconds,
        "eval_seconds": eval_seconds,
        "seconds_per_epoch": train_seconds / len(history),
        "study_reported_acc": trial.study_reported_acc,
        "study_reported": trial.study_reported,
        "loss_per_batch": [loss for epoch in history for loss in epoch["losses"]],
        "running_acc_per_batch": [acc for epoch in history for acc in epoch["running_accs"]],
        "data_dir": portable_path(args.data_dir),
        "data_sha256": data["sha256"],
        "kernels": args.kernels,
        "numba_threads": numba.get_num_threads(),
        "cpu": numba.config.CPU_NAME or llvmlite.binding.get_host_cpu_name(),  # what Numba compiled the kernels for
        # float32 results move with the BLAS kernel (see README, "Same seed, same numbers")
        "blas": [{"library": Path(lib["filepath"]).name, "version": lib["version"], "kernel": lib["architecture"]}
                 for lib in blas_in_use()],
        "OPENBLAS_CORETYPE": os.environ.get("OPENBLAS_CORETYPE"),
        **(validation_fields(trial, progress) if trial.val else {}),
    }


def validation_fields(trial, progress):
    return {
        "schedule": trial.schedule, "nesterov": trial.nesterov, "val_images": trial.val,
        "val_acc_per_epoch": progress.val_acc_per_epoch, "kept_epoch": progress.kept_epoch,
        "test_evaluated": f"once, on epoch {progress.kept_epoch}, the epoch with the best validation accuracy "
                          f"(of {trial.val:,} training images held out)",
    }


def print_outcome(record):
    diverged = record["diverged_at"]
    kept = f" (epoch {record['kept_epoch']}, kept on validation)" if record.get("kept_epoch") else ""
    print(f"-- trial {record['trial']}: held-out test accuracy {record['test_acc']:.2f}% "
          f"({record['test_correct']}/{record['test_total']}){kept}; study's metric (augmented training images) "
          f"{record['study_metric_acc']:.2f}% ({record['study_metric_correct']}/{record['study_metric_total']}), "
          f"study reported {record['study_reported'] or '-'}; running train accuracy "
          f"{record['running_train_acc']:.2f}%; final loss {record['final_train_loss']}; "
          f"{record['params']:,} parameters; trained in {record['train_seconds']:.1f} s"
          + (f"; DIVERGED at epoch {diverged['epoch']}, batch {diverged['batch']}: {diverged.get('because')}"
             if diverged else ""))


def run_trial(trial, data, args, checkpoints_folder, plots=None):
    """Train and evaluate one trial; return its record (a dict ready for JSON), or None if stopped early."""
    trial = with_overrides(trial, args)
    init_rng, train_rng, metric_rng, shuffle_rng, split_rng = random_streams(trial.seed)
    train_images, train_labels, val_images, val_labels = split_data(data, trial, args.limit, split_rng)
    model = MODELS[trial.model](generator=init_rng)
    params = model.num_parameters()
    print_header(trial, params, train_images, model)

    augment = make_augment(trial, train_rng)
    train_loader = BatchLoader(train_images, train_labels, trial.batch_size, augment, shuffle=trial.shuffle,
                               generator=shuffle_rng)
    val_loader = BatchLoader(val_images, val_labels, 1000, Normalize()) if trial.val else None
    test_loader = BatchLoader(data["test_images"], data["test_labels"], 1000, Normalize())
    progress, checkpoints = train(trial, model, (train_loader, val_loader, test_loader), args, train_rng, shuffle_rng,
                                  checkpoints_folder, data["sha256"])
    if progress.epoch < trial.epochs and not stopped(progress):
        print(f"stopped after epoch {progress.epoch} as asked (--stop-after); --resume continues from "
              f"{checkpoints.last if checkpoints else 'a checkpoint (use --checkpoints)'}")
        return None
    if progress.kept_state is not None:
        model.load_state_dict(progress.kept_state)  # the test set sees the kept epoch, once
    start = time.perf_counter()
    metric_loader = BatchLoader(train_images, train_labels, trial.batch_size, make_augment(trial, metric_rng))
    study_metric, test = measure(model, metric_loader, test_loader, not args.no_progress)
    eval_seconds = progress.eval_seconds + time.perf_counter() - start

    train_seconds = sum(result["seconds"] for result in progress.history)
    record = make_record(trial, params, train_images, progress, study_metric, test, (train_seconds, eval_seconds),
                         args, data)
    print_outcome(record)
    if checkpoints is not None and progress.kept_state is not None:
        checkpoints.save_kept(progress, {key: record[key] for key in ("test_acc", "kept_epoch", "val_acc_per_epoch")})
        record["checkpoint"] = portable_path(checkpoints.kept)
    if plots is not None:
        plots(record, train_images, train_labels, make_augment(trial, np.random.default_rng(trial.seed)),
              data["test_images"], data["test_labels"], test[3])
    return record


def estimate_seconds(trial, train_images):
    """A rough time for a trial on a 2-core machine, from measured per-image costs, to print before starting."""
    per_image = {"baseline": 1 / 550, "reduced": 1 / 5000, "minimal": 1 / 14000}.get(trial.model, 1 / 4500)
    if tinycnn.backend.mode() == "reference":  # the naive kernels, one thread: 4a took 60 times as long
        per_image *= 60
    return per_image * train_images * trial.epochs + per_image * (train_images + 10_000) / 3


def read_data_while_kernels_load(data_dir, trials):
    """``load_mnist(data_dir)``, read on a second thread while this one loads (or compiles) the kernels of the
    trials' models.

    Decompressing and checksumming the files let go of Python's lock, and so
    does much of loading compiled kernels from Numba's cache (LLVM's calls),
    so the two overlap on the machine's two cores: with a warm cache, 0.2 s of
    the 0.25 s that reading MNIST takes.
    """
    with compiling_notice():
        helper = start_helper()  # on a cold cache: forked before the reader thread exists (a fork copies no thread)
        with concurrent.futures.ThreadPoolExecutor(max_workers=1) as reader:
            reading = reader.submit(load_mnist, data_dir)
            for name in dict.fromkeys(trial.model for trial in trials):  # each model once, in order
                warm_up(MODELS[name](generator=np.random.default_rng(0)), (1, IMAGE_SIZE, IMAGE_SIZE),
                        helper=helper or True)
            return reading.result()  # raises the reader's DataError, if any


def main(description, trials, record_name=None, argv=None, finish=None):
    """Parse flags, load the data, run the selected trials, write one JSON record each. Returns the exit status.

    ``record_name(trial)`` is a trial's record file relative to the results
    folder (default ``<trial id>.json``); ``outputs.py`` says which folder
    that is. ``finish(outputs)``, if given, runs after every trial ran (the
    tiny script writes its summary there).
    """
    args = parse_args(description, trials, argv)
    record_name = record_name or (lambda trial: f"{trial.id}.json")
    selected = [t for t in trials if args.trial in (None, t.id)]
    try:
        places = outputs.plan(args, selected, record_name)
        keeping = [t for t in selected if with_overrides(t, args).checkpoint]
        folders = {path.parent: "--out" for path in places.records.values()}
        folders.update({places.checkpoints: "--checkpoints" if args.checkpoints else "--out"} if keeping else {})
        folders.update({places.plots: "--out"} if not args.no_plots else {})
        outputs.check_writable(folders)
        checkpoint_files = [Checkpoints(places.checkpoints, t).kept for t in keeping]  # .last is written with it
        # every op of the run on the kernel set asked for (tinycnn/backend.py), the caller's set back afterwards
        with outputs.claimed(list(places.records.values()) + checkpoint_files), tinycnn.backend.use(args.kernels):
            return run_selected(selected, args, places, record_name, finish)
    except OutputError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


def run_selected(selected, args, places, record_name, finish):
    """``main``'s work once the outputs are checked and claimed."""
    where = places.records[selected[0].id].parent if len(selected) == 1 else places.checkpoints.parent
    print(f"this run writes to {portable_path(where)}"
          + ("" if args.update_results or args.out else " (which git ignores; --update-results writes the committed "
                                                        "results instead)"))
    keep_freed_memory()  # a training program: reuse freed memory instead of re-faulting it (tinycnn/memory.py)
    try:
        data = read_data_while_kernels_load(args.data_dir, selected)
    except DataError as error:
        print(f"error: {error}", file=sys.stderr)
        print("no result was written", file=sys.stderr)
        return 2
    plots = None
    if not args.no_plots:
        from plots import trial_figure
        plots = trial_figure(places.plots)  # None, with one message, without matplotlib
    # What exists by now (modules, Numba's kernels and their type information, MNIST) lives until the process
    # ends. Frozen, it is out of the garbage collector's sight: its full collections during training and the
    # last one at exit no longer walk Numba's many objects, 0.15 s of a 3.7 s iter4 run here.
    gc.freeze()

    images = min(args.limit or len(data["train_images"]), len(data["train_images"]))
    estimates = [estimate_seconds(dataclasses.replace(t, epochs=args.epochs or t.epochs), images) for t in selected]
    print("trials to run: " + ", ".join(f"{t.id} (~{s:.0f} s)" for t, s in zip(selected, estimates))
          + f"; about {sum(estimates) / 60:.1f} min in all on a 2-core machine")
    for trial in selected:
        out = places.records[trial.id]
        try:
            record = run_trial(trial, data, args, places.checkpoints, plots)
            if record is None:
                continue
            write_json(out, record)
        except (ValueError, tinycnn.CheckpointError) as error:  # a bad --resume, --val: say so, write nothing
            print(f"error: {error}", file=sys.stderr)
            return 2
        except OSError as error:  # a full disk, say: the figures are printed above, the file named here
            print(f"error: cannot write {error.filename or out}: {error.strerror or error}", file=sys.stderr)
            return 1
        print(f"record written to {portable_path(out)}")
        if not args.changed and not args.update_results:
            committed, path = outputs.committed_record(record_name, trial)
            if committed is not None:
                print(outputs.compare(record, committed, path))
    if finish is not None:
        finish(places)
    return 0
