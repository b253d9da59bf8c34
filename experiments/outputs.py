"""Where a run's outputs go, checked before it trains, one run per output at a time, and compared with the commit.

A run writes its records, checkpoints and pictures under one folder, laid
out as ``experiments/results`` is (``checkpoints/`` and ``plots/`` beside
the records):

- by default ``experiments/runs``, which git ignores: running a script
  never changes a committed file;
- with ``--update-results``, ``experiments/results`` itself: how the
  committed results are re-made (only for the trials as defined, so not
  with ``--limit``, ``--lr`` and the like);
- with ``--out FOLDER``, that folder; with ``--out FILE.json``, that file
  for the one trial's record, ``checkpoints/`` and ``plots/`` beside it.
  ``--checkpoints`` places the checkpoints apart.

Before training, every folder is created and written to (a megabyte,
removed again), so that a read-only folder, a full disk or a path under a
file stop the run at once with one line naming the path, not after an
hour of training. Each record and kept checkpoint is then claimed with a
lock beside it (``.NAME.lock``, an ``flock``, which the system releases
when the process ends, however it ends): a second run on the same output
is refused while the first runs. ``--out`` and ``--checkpoints`` may not
point into ``experiments/results`` but with ``--update-results``.

After a run of a committed trial, ``compare`` says how its figures stand
against the committed record: the same bits, or which differ, and whether
the BLAS kernel (or the CPU Numba compiled for) differs, which explains it.
"""

import contextlib
import dataclasses
import json
import os
import tempfile
from pathlib import Path

try:
    import fcntl
except ImportError:  # not POSIX: no lock (two runs on one output then both write, the last one wins)
    fcntl = None

REPO = Path(__file__).resolve().parents[1]
RESULTS_DIR = REPO / "experiments" / "results"
RUNS_DIR = REPO / "experiments" / "runs"
PROBE_BYTES = 2**20


def portable_path(path):
    """``path`` relative to the repository when inside it (so that a record names no folder of this machine)."""
    path = Path(path).resolve()
    return str(path.relative_to(REPO)) if path.is_relative_to(REPO) else str(path)


class OutputError(Exception):
    """An output cannot be written, or another run is writing it. The message names the path."""


@dataclasses.dataclass
class Outputs:
    """Where one run writes: a record per trial, the checkpoints' folder, the pictures' folder."""

    records: dict  # trial id -> the record's path
    checkpoints: Path
    plots: Path
    one_file: bool = False  # --out FILE.json: the record of one trial, nothing else in that folder is ours


def plan(args, trials, record_name):
    """The Outputs of a run with these flags. ``record_name(trial)`` is a trial's record, relative to the results
    folder (``iter4.json``, ``tiny/tiny8k-s0.json``)."""
    if args.out is not None and args.out.suffix == ".json":
        if len(trials) != 1:
            raise OutputError(f"--out {args.out}: a .json file takes the record of one trial, and {len(trials)} "
                              "run; give a folder instead, or --trial")
        root, records, one_file = args.out.parent, {trials[0].id: args.out}, True
    else:
        root = args.out if args.out is not None else RESULTS_DIR if args.update_results else RUNS_DIR
        records, one_file = {trial.id: root / record_name(trial) for trial in trials}, False
    places = Outputs(records, args.checkpoints or root / "checkpoints", root / "plots", one_file)
    if not args.update_results:
        for flag, path in [("--out", args.out), ("--checkpoints", args.checkpoints)]:
            if path is not None and Path(path).resolve().is_relative_to(RESULTS_DIR.resolve()):
                raise OutputError(f"{flag} {path}: that is where the committed results are; --update-results "
                                  "re-makes them (for the trials as defined), a run of its own goes elsewhere")
    return places


def check_writable(folders):
    """Create each folder and write a megabyte in it (then remove it); OutputError naming the first that fails.

    ``folders``: {folder: the flag that places it}. Folders this made are removed again if a check fails.
    """
    made = []
    for folder, flag in folders.items():
        folder = Path(folder)
        try:
            missing = [parent for parent in [folder, *folder.parents] if not parent.exists()]
            folder.mkdir(parents=True, exist_ok=True)
            made += reversed(missing)
            with tempfile.TemporaryFile(dir=folder, prefix=".tinycnn-probe-") as probe:
                probe.write(bytes(PROBE_BYTES))
                probe.flush()
                os.fsync(probe.fileno())
        except OSError as error:
            for path in reversed(made):
                with contextlib.suppress(OSError):
                    path.rmdir()
            reason = error.strerror or str(error)
            if isinstance(error, (FileExistsError, NotADirectoryError)):
                reason = "a part of that path is a file, not a folder"
            raise OutputError(f"{folder}: cannot write there ({reason}); give {flag} a folder you can write to") \
                from error


@contextlib.contextmanager
def claimed(paths):
    """Within this block each path is this run's: OutputError if another run holds one of them."""
    with contextlib.ExitStack() as locks:
        for path in paths:
            path = Path(path)
            if path.is_dir():
                raise OutputError(f"{path}: is a folder; --out takes a folder, or a .json file for one record")
            if fcntl is not None:
                locks.enter_context(_lock(path))
        yield


@contextlib.contextmanager
def _lock(path):
    lock_path = path.parent / f".{path.name}.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(handle, 64, 0).decode(errors="replace").strip() or "unknown"
            raise OutputError(f"{path}: another run (process {holder}) is writing it now; wait for that run to end, "
                              "or give this one another --out") from None
        os.ftruncate(handle, 0)
        os.pwrite(handle, str(os.getpid()).encode(), 0)
        yield
    finally:
        os.close(handle)  # releases the lock; the file stays (removing it could race a run that just opened it)


# ----- the committed record ------------------------------------------------------------------------------------------

FIGURES = [("test_correct", "held-out correct"), ("study_metric_correct", "study's-metric correct"),
           ("final_train_loss", "final loss"), ("loss_per_batch", "loss per batch"),
           ("running_acc_per_batch", "running accuracy"), ("diverged_at", "divergence")]


def committed_record(record_name, trial):
    """The committed record of ``trial``, or None."""
    path = RESULTS_DIR / record_name(trial)
    if not path.exists():
        return None, path
    return json.loads(path.read_text()), path


def compare(record, committed, committed_path):
    """One line: how ``record`` stands against the committed one, and why it may differ."""
    where = portable_path(committed_path)
    differ = [label for key, label in FIGURES if key in committed and record.get(key) != committed.get(key)]
    if not differ:
        return f"the same figures as the committed record {where}, bit for bit"
    ours, theirs = blas_kernels(record), blas_kernels(committed)
    cpu, committed_cpu = record.get("cpu"), committed.get("cpu", "not recorded")
    if ours != theirs:
        why = (f"this machine's BLAS kernel is {ours}, the record's {theirs}: float32 sums run in another order, "
               "so the last bits move, and with them the figures after training")
    elif cpu != committed_cpu:
        why = f"the BLAS kernel is the same ({ours}); Numba compiled for {cpu}, the record's run for {committed_cpu}"
    else:
        why = (f"the BLAS kernel ({ours}) and the CPU ({cpu}) are the record's: that is unexpected, and worth a "
               "report with both records")
    shown = [f"held-out {record['test_acc']:.2f} % against {committed['test_acc']:.2f} %",
             f"final loss {record['final_train_loss']} against {committed['final_train_loss']}"]
    return f"differs from the committed record {where} in: {', '.join(differ)} ({'; '.join(shown)}); {why}"


def blas_kernels(record):
    return "/".join(sorted({library["kernel"] for library in record.get("blas", [])})) or "not recorded"
