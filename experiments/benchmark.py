"""tinycnn against PyTorch on this machine: training step, inference, start-up, memory.

    python experiments/benchmark.py            # the full comparison (a few minutes)
    python experiments/benchmark.py --quick    # a short run, e.g. as a smoke test

Every measurement runs in a fresh worker process (this script with
``--worker``), so one engine's memory or threads never affect the other's,
and the two engines take turns over several rounds (tinycnn, PyTorch,
tinycnn, PyTorch, ...) so that a machine that slows down or speeds up part
way affects both alike. Each worker builds the study's model, puts a random
batch in memory, runs warm-up steps, then times training steps (forward,
backward, optimizer step) and inference batches, and reports medians.
Ratios are taken round by round (this round's tinycnn over this round's
PyTorch) and their median is reported with the range.

Without PyTorch installed it measures tinycnn alone and says so. PyTorch, if
used, must be 2.13.0: `pip install torch==2.13.0`.
"""

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
RUNS_DIR = HERE / "runs"
sys.path.insert(0, str(HERE))
# Nothing from tinycnn is imported at module level: the PyTorch worker runs
# PyTorch as a user would, and the tinycnn worker alone calls keep_freed_memory().

MODELS = {  # name: (model, batch size, optimizer)
    "iter4": ("minimal 24,245 params", 1024, "adam lr 0.01 wd 1e-4"),
    "iter1": ("baseline 593,200 params", 512, "sgd lr 0.01 momentum 0.9"),
    "tiny": ("tiny8k 7,574 params, BatchNorm", 64, "sgd nesterov lr 0.05 momentum 0.9 wd 5e-4"),
}


# ----- workers: one engine, one model, in a process of their own ---------------------------


def tinycnn_engine(model_name, threads):
    import numba

    import tinycnn.functional as F
    from models import MODELS as ENGINE_MODELS
    from tinycnn import Tensor, no_grad, optim
    from tinycnn.memory import keep_freed_memory

    keep_freed_memory()  # as the experiment scripts do (tinycnn/memory.py)
    numba.set_num_threads(threads)
    rng = np.random.default_rng(0)
    model = ENGINE_MODELS[{"iter4": "minimal", "iter1": "baseline", "tiny": "tiny8k"}[model_name]](generator=rng)
    if model_name == "iter4":
        optimizer = optim.Adam(model.parameters(), lr=0.01, weight_decay=1e-4)
    elif model_name == "iter1":
        optimizer = optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    else:
        optimizer = optim.SGD(model.parameters(), lr=0.05, momentum=0.9, nesterov=True, weight_decay=5e-4)

    def train_step(x, y):
        optimizer.zero_grad()
        loss = F.cross_entropy(model(Tensor(x)), y)
        loss.backward()
        optimizer.step()

    def infer(x):
        with no_grad():
            return model(Tensor(x)).data

    return train_step, infer


def torch_model(model_name):
    """The model in PyTorch, layer for layer as models.py writes it for tinycnn."""
    import torch

    f = torch.nn.functional

    class Minimal(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1, self.conv2 = torch.nn.Conv2d(1, 16, 3), torch.nn.Conv2d(16, 32, 3)
            self.fc1, self.fc2 = torch.nn.Linear(288, 65), torch.nn.Linear(65, 10)

        def forward(self, x):
            x = f.max_pool2d(f.relu(self.conv1(x)), 2)
            x = f.max_pool2d(f.relu(self.conv2(x)), 3)
            return f.log_softmax(self.fc2(f.relu(self.fc1(x.flatten(1)))), dim=1)

    class Baseline(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1, self.conv2 = torch.nn.Conv2d(1, 32, 3), torch.nn.Conv2d(32, 64, 3)
            self.conv3, self.conv4 = torch.nn.Conv2d(64, 128, 3), torch.nn.Conv2d(128, 256, 3)
            self.fc1, self.fc2 = torch.nn.Linear(4096, 50), torch.nn.Linear(50, 10)

        def forward(self, x):
            x = f.relu(self.conv1(x))
            x = f.relu(f.max_pool2d(self.conv2(x), 2))
            x = f.relu(self.conv3(x))
            x = f.relu(f.max_pool2d(self.conv4(x), 2))
            return f.log_softmax(self.fc2(f.relu(self.fc1(x.flatten(1)))), dim=1)

    def block(cin, cout):
        return [torch.nn.Conv2d(cin, cout, 3, bias=False), torch.nn.BatchNorm2d(cout), torch.nn.ReLU()]

    class Tiny(torch.nn.Module):
        """experiments/models.py's TinyNet with tiny8k's widths, layer for layer (and the same state_dict keys)."""

        def __init__(self, widths=(10, 16, 10, 14, 16, 16)):
            super().__init__()
            c1, c2, narrow, c3, c4, c5 = widths
            self.block1, self.block2 = torch.nn.Sequential(*block(1, c1)), torch.nn.Sequential(*block(c1, c2))
            self.narrow, self.pool = torch.nn.Conv2d(c2, narrow, 1, bias=False), torch.nn.MaxPool2d(2)
            self.block3, self.block4 = torch.nn.Sequential(*block(narrow, c3)), torch.nn.Sequential(*block(c3, c4))
            self.block5 = torch.nn.Sequential(*block(c4, c5))
            self.gap, self.classify = torch.nn.AdaptiveAvgPool2d(1), torch.nn.Conv2d(c5, 10, 1, bias=False)

        def forward(self, x):
            x = self.pool(self.narrow(self.block2(self.block1(x))))
            x = self.block5(self.block4(self.block3(x)))
            return f.log_softmax(self.classify(self.gap(x)).flatten(1), dim=1)

    return {"iter4": Minimal, "iter1": Baseline, "tiny": Tiny}[model_name]()


def torch_engine(model_name, threads):
    import torch

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    f = torch.nn.functional
    model = torch_model(model_name)
    if model_name == "iter4":
        optimizer = torch.optim.Adam(model.parameters(), lr=0.01, weight_decay=1e-4)
    elif model_name == "iter1":
        optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    else:
        optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, nesterov=True, weight_decay=5e-4)

    def train_step(x, y):
        optimizer.zero_grad()
        loss = f.cross_entropy(model(torch.from_numpy(x)), torch.from_numpy(y))
        loss.backward()
        optimizer.step()

    def infer(x):
        with torch.no_grad():
            return model(torch.from_numpy(x)).numpy()

    return train_step, infer


def run_worker(args):
    started = time.perf_counter()
    engine = {"tinycnn": tinycnn_engine, "torch": torch_engine}[args.worker]
    train_step, infer = engine(args.model, args.threads)
    batch = MODELS[args.model][1]
    rng = np.random.default_rng(1)
    x = rng.standard_normal((batch, 1, 28, 28)).astype(np.float32)
    y = rng.integers(0, 10, batch).astype(np.int64)

    train_step(x, y)
    first_step_seconds = time.perf_counter() - started  # imports + set-up + (for tinycnn) compiling or loading
    for _ in range(args.warmup):
        train_step(x, y)
    train_times = []
    for _ in range(args.steps):
        start = time.perf_counter()
        train_step(x, y)
        train_times.append(time.perf_counter() - start)
    infer(x)
    infer_times = []
    for _ in range(args.steps):
        start = time.perf_counter()
        infer(x)
        infer_times.append(time.perf_counter() - start)
    print(json.dumps({
        "train_samples_per_s": batch / float(np.median(train_times)),
        "infer_samples_per_s": batch / float(np.median(infer_times)),
        "first_step_seconds": first_step_seconds,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }))


# ----- the orchestrator ---------------------------------------------------------------------


def call_worker(engine, model, threads, steps, warmup, env=None):
    command = [sys.executable, str(Path(__file__).resolve()), "--worker", engine, "--model", model,
               "--threads", str(threads), "--steps", str(steps), "--warmup", str(warmup)]
    run = subprocess.run(command, capture_output=True, text=True, env=env, timeout=1800)
    if run.returncode != 0:
        raise RuntimeError(f"the {engine} worker for {model} failed:\n{run.stderr[-3000:]}")
    return json.loads(run.stdout.strip().splitlines()[-1])


def cpu_name():
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def summarise(values):
    return {"median": float(np.median(values)), "min": float(np.min(values)), "max": float(np.max(values)),
            "values": [float(v) for v in values]}


def time_whole_run(iter4_args):
    """Wall time and peak memory of ``python experiments/iter4.py`` as a user runs it."""
    start = time.perf_counter()
    run = subprocess.run([sys.executable, str(HERE / "iter4.py"), "--no-progress"] + iter4_args,
                         capture_output=True, text=True, timeout=1800)
    seconds = time.perf_counter() - start
    if run.returncode != 0:
        raise RuntimeError(f"iter4.py failed:\n{run.stderr[-3000:]}")
    return seconds


def measure_start_up(threads, quick):
    """First training step of the iter4 model from an empty Numba cache, then again with it warm."""
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache)
        cold = call_worker("tinycnn", "iter4", threads, 1, 0, env)["first_step_seconds"]
        warm = call_worker("tinycnn", "iter4", threads, 1, 0, env)["first_step_seconds"]
    return {"cold_seconds": cold, "warm_seconds": warm}


def format_rate(stats):
    return f"{stats['median']:,.0f} ({stats['min']:,.0f}-{stats['max']:,.0f})"


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one round, few steps, iter4 model's whole run skipped")
    parser.add_argument("--rounds", type=int, help="rounds of tinycnn/PyTorch turns (default 5, quick 1)")
    parser.add_argument("--engines", default="tinycnn,torch", help="comma-separated: tinycnn, torch")
    parser.add_argument("--models", default=",".join(MODELS), help=f"comma-separated, of {', '.join(MODELS)}")
    parser.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)))
    parser.add_argument("--out", type=Path, default=RUNS_DIR / "benchmark.json",
                        help="the record (default: experiments/runs/benchmark.json, which git ignores; the committed "
                             "one is experiments/results/benchmark.json, re-made by naming it here)")
    parser.add_argument("--worker", choices=["tinycnn", "torch"], help=argparse.SUPPRESS)
    parser.add_argument("--model", choices=list(MODELS), help=argparse.SUPPRESS)
    parser.add_argument("--steps", type=int, default=10, help=argparse.SUPPRESS)
    parser.add_argument("--warmup", type=int, default=3, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def available_engines(requested):
    """The engines to measure, and PyTorch's version (None without it): PyTorch is dropped, saying so, if missing."""
    engines = [e.strip() for e in requested.split(",") if e.strip()]
    if "torch" not in engines:
        return engines, None
    try:
        import torch
    except ImportError:
        print("PyTorch is not installed: measuring tinycnn alone (for the comparison: pip install torch==2.13.0)")
        return [e for e in engines if e != "torch"], None
    return engines, torch.__version__


def run_rounds(models, engines, rounds, threads, steps, warmup):
    """{model: {engine: [one worker's figures per round]}}, the engines taking turns within each round."""
    results = {model: {engine: [] for engine in engines} for model in models}
    for round_number in range(1, rounds + 1):
        for model in models:
            for engine in engines:
                results[model][engine].append(call_worker(engine, model, threads, steps, warmup))
                rate = results[model][engine][-1]["train_samples_per_s"]
                print(f"  round {round_number}, {model}, {engine}: {rate:,.0f} training samples/s", flush=True)
    return results


def summarise_model(runs, engines):
    """One model's entry of the record: each engine's medians and ranges, and the ratios paired by round."""
    entry = {engine: {key: summarise([r[key] for r in runs[engine]])
                      for key in ("train_samples_per_s", "infer_samples_per_s", "peak_rss_mb")}
             for engine in engines}
    if "torch" in engines:
        for key in ("train_samples_per_s", "infer_samples_per_s"):
            entry[f"{key}_ratio"] = summarise([a[key] / b[key] for a, b in zip(runs["tinycnn"], runs["torch"])])
    return entry


def model_rows(model, entry, engines):
    description, batch, optimizer = MODELS[model]
    rows = []
    for key, label in (("train_samples_per_s", "training step (fwd+bwd+step), samples/s"),
                       ("infer_samples_per_s", "inference, samples/s"),
                       ("peak_rss_mb", "peak memory of the worker, MB")):
        theirs = format_rate(entry["torch"][key]) if "torch" in engines else "-"
        ratio = entry.get(f"{key}_ratio")
        ratio_text = f"{ratio['median']:.2f}x ({ratio['min']:.2f}-{ratio['max']:.2f})" if ratio else "-"
        rows.append((f"{model} ({description}, batch {batch}, {optimizer}): {label}",
                     format_rate(entry["tinycnn"][key]), theirs, ratio_text))
    return rows


def print_table(rows, torch_version, blas):
    header = ("measurement", "tinycnn", f"PyTorch {torch_version}" if torch_version else "PyTorch", "ratio")
    print()
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for row in rows:
        print("| " + " | ".join(row) + " |")
    print("\nmedian (min-max) over rounds; ratio = tinycnn / PyTorch, paired round by round")
    for lib in blas:
        print(f"BLAS: {lib['internal_api']} {lib['version']} kernel {lib['architecture']}, "
              f"{lib['num_threads']} threads, {Path(lib['filepath']).name}")
    print(f"OPENBLAS_CORETYPE: {os.environ.get('OPENBLAS_CORETYPE') or 'not set'}")


def main(argv=None):
    args = parse_args(argv)
    if args.worker:
        return run_worker(args)
    import scipy.linalg.cython_blas  # noqa: F401  (load the BLAS that tinycnn's kernels call, to report it)

    from tinycnn.files import write_json
    from tinycnn.kernels.fast.threads import blas_in_use

    rounds = args.rounds or (1 if args.quick else 5)
    steps, warmup = (2, 1) if args.quick else (10, 3)
    engines, torch_version = available_engines(args.engines)
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    unknown = sorted(set(models) - set(MODELS))
    if unknown:
        print(f"error: unknown model(s) {', '.join(unknown)}; choose from {', '.join(MODELS)}", file=sys.stderr)
        return 2
    print(f"CPU: {cpu_name()}; {args.threads} threads per engine; {rounds} round(s) of {steps} timed steps "
          f"after {warmup} warm-up steps; engines: {', '.join(engines)}")
    results = run_rounds(models, engines, rounds, args.threads, steps, warmup)

    record = {
        "cpu": cpu_name(), "threads": args.threads, "rounds": rounds, "steps": steps, "warmup": warmup,
        "python": platform.python_version(), "numpy": np.__version__, "torch": torch_version,
        "blas": [dict(library, filepath=Path(library["filepath"]).name) for library in blas_in_use()],  # no folder
        "OPENBLAS_CORETYPE": os.environ.get("OPENBLAS_CORETYPE"),
        "command": " ".join([Path(sys.argv[0]).name] + (argv if argv is not None else sys.argv[1:])),
        "models": {model: summarise_model(results[model], engines) for model in models},
    }
    rows = [row for model in models for row in model_rows(model, record["models"][model], engines)]
    record["start_up"] = measure_start_up(args.threads, args.quick)
    rows.append(("iter4 model: first training step from an empty Numba cache, s",
                 f"{record['start_up']['cold_seconds']:.1f}", "-", "-"))
    rows.append(("iter4 model: first training step with a warm cache, s",
                 f"{record['start_up']['warm_seconds']:.1f}", "-", "-"))
    if not args.quick:
        with tempfile.TemporaryDirectory() as scratch:
            record["iter4_whole_run_seconds_warm"] = time_whole_run(["--out", str(Path(scratch) / "iter4.json")])
        rows.append(("python experiments/iter4.py, whole run (warm cache), s",
                     f"{record['iter4_whole_run_seconds_warm']:.1f}", "-", "-"))
    print_table(rows, torch_version, record["blas"])
    write_json(args.out, record)
    print(f"record written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
