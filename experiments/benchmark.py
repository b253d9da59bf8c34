"""tinycnn against PyTorch on this machine: training step, inference, start-up, memory; and the distance to the limit.

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

The models: the study's minimal and baseline models, our tiny8k, and the
zoo of ``experiments/zoo.py`` (small CNNs that are not ours, each written
once for both engines). For each, the FLOPs of one training step are
counted from the layer shapes (the convolutions' and linear layers'
products: forward, weight gradient, and input gradient where one is
needed), and tinycnn's rate is given as a share of this machine's float32
GEMM rate, measured in the same run (a 2048 x 2048 ``np.matmul`` on the
same threads, in a worker of its own each round): the distance to what the
machine can do.

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

from zoo import ZOO  # noqa: E402  (experiments/ is on the path now)

MODELS = {  # name: (model, batch size, optimizer)
    "iter4": ("minimal 24,245 params", 1024, "adam lr 0.01 wd 1e-4"),
    "iter1": ("baseline 593,200 params", 512, "sgd lr 0.01 momentum 0.9"),
    "tiny": ("tiny8k 7,574 params, BatchNorm", 64, "sgd nesterov lr 0.05 momentum 0.9 wd 5e-4"),
    **{name: (entry.description, entry.batch,
              f"{entry.optimizer} " + " ".join(f"{key} {value}" for key, value in entry.optimizer_options.items()))
       for name, entry in ZOO.items()},
}
GEMM_SIZE = 2048  # the product whose float32 rate stands for the machine's limit


# ----- workers: one engine, one model, in a process of their own ---------------------------


def tinycnn_engine(model_name, threads):
    import numba

    import tinycnn.functional as F
    from models import MODELS as ENGINE_MODELS
    from tinycnn import Tensor, no_grad, optim
    from tinycnn.memory import keep_freed_memory

    keep_freed_memory()  # as the experiment scripts do (tinycnn/memory.py)
    numba.set_num_threads(threads)
    if model_name in ZOO:
        import zoo
        from tinycnn import manual_seed, nn

        manual_seed(0)
        model, optimizer = zoo.build(model_name, nn, optim)
        return _tinycnn_steps(model, optimizer)
    rng = np.random.default_rng(0)
    model = ENGINE_MODELS[{"iter4": "minimal", "iter1": "baseline", "tiny": "tiny8k"}[model_name]](generator=rng)
    if model_name == "iter4":
        optimizer = optim.Adam(model.parameters(), lr=0.01, weight_decay=1e-4)
    elif model_name == "iter1":
        optimizer = optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    else:
        optimizer = optim.SGD(model.parameters(), lr=0.05, momentum=0.9, nesterov=True, weight_decay=5e-4)
    return _tinycnn_steps(model, optimizer)


def _tinycnn_steps(model, optimizer):
    import tinycnn.functional as F
    from tinycnn import Tensor, no_grad

    def train_step(x, y):
        optimizer.zero_grad()
        loss = F.cross_entropy(model(Tensor(x)), y)
        loss.backward()
        optimizer.step()

    def infer(x):
        model.eval()
        with no_grad():
            out = model(Tensor(x)).data
        model.train()
        return out

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
    if model_name in ZOO:
        import zoo

        model, optimizer = zoo.build(model_name, torch.nn, torch.optim)
        return _torch_steps(model, optimizer)
    model = torch_model(model_name)
    if model_name == "iter4":
        optimizer = torch.optim.Adam(model.parameters(), lr=0.01, weight_decay=1e-4)
    elif model_name == "iter1":
        optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    else:
        optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, nesterov=True, weight_decay=5e-4)
    return _torch_steps(model, optimizer)


def _torch_steps(model, optimizer):
    import torch

    f = torch.nn.functional

    def train_step(x, y):
        optimizer.zero_grad()
        loss = f.cross_entropy(model(torch.from_numpy(x)), torch.from_numpy(y))
        loss.backward()
        optimizer.step()

    def infer(x):
        model.eval()
        with torch.no_grad():
            out = model(torch.from_numpy(x)).numpy()
        model.train()
        return out

    return train_step, infer


def gemm_worker(threads, repeats=5):
    """This machine's float32 GEMM rate, in GFLOP/s: a GEMM_SIZE-square ``np.matmul`` on ``threads`` BLAS threads."""
    from threadpoolctl import threadpool_limits

    rng = np.random.default_rng(0)
    a, b = (rng.standard_normal((GEMM_SIZE, GEMM_SIZE)).astype(np.float32) for _ in range(2))
    with threadpool_limits(threads, user_api="blas"):
        a @ b  # warm-up: BLAS's threads and buffers
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            a @ b
            times.append(time.perf_counter() - start)
    return 2 * GEMM_SIZE ** 3 / float(np.median(times)) / 1e9


def layer_calls(model_name, batch):
    """Every conv and linear call of one tinycnn forward of ``model_name`` at ``batch``, in order.

    Each is a dict: kind ("conv2d" or "linear"), input_shape, weight_shape,
    output_shape, stride, padding, and needs_input_grad (False for the first
    layer, whose input is the images).
    """
    import tinycnn.functional as F
    from tinycnn import Tensor, nn, optim

    calls = []
    conv2d, linear = F.conv2d, F.linear

    def recording_conv2d(input, weight, bias=None, stride=1, padding=0):
        out = conv2d(input, weight, bias, stride, padding)
        stride = F._pair("conv2d", "stride", stride)  # as the kernels take them: one int each (an equal pair, or
        padding = F._conv_padding("conv2d", padding, stride, weight.shape[2:])  # 'same', as the module said it)
        calls.append(dict(kind="conv2d", input_shape=input.shape, weight_shape=weight.shape, output_shape=out.shape,
                          stride=stride, padding=padding, needs_input_grad=input.requires_grad))
        return out

    def recording_linear(input, weight, bias=None):
        out = linear(input, weight, bias)
        calls.append(dict(kind="linear", input_shape=input.shape, weight_shape=weight.shape, output_shape=out.shape,
                          stride=1, padding=0, needs_input_grad=input.requires_grad))
        return out

    F.conv2d, F.linear = recording_conv2d, recording_linear
    try:
        if model_name in ZOO:
            import zoo

            model, _ = zoo.build(model_name, nn, optim)
        else:
            from models import MODELS as ENGINE_MODELS

            model = ENGINE_MODELS[{"iter4": "minimal", "iter1": "baseline", "tiny": "tiny8k"}[model_name]]()
        model(Tensor(np.zeros((batch, 1, 28, 28), dtype=np.float32))).data
    finally:
        F.conv2d, F.linear = conv2d, linear
    return calls


def training_flops(model_name, batch):
    """The FLOPs of one training step of ``model_name`` at ``batch``: every conv's and linear layer's products
    (2 per multiply-add): the forward, the weight gradient, and the input gradient where the input needs one (not
    the images'). Counted from the shapes of one tinycnn forward; the element-wise ops are left out."""
    total = 0
    for call in layer_calls(model_name, batch):
        # a conv's multiply-adds: one per output value and weight of its filter; a linear layer's: batch * out * in
        out_values = int(np.prod(call["output_shape"]))
        forward = 2 * out_values * int(np.prod(call["weight_shape"][1:]))
        total += forward * (3 if call["needs_input_grad"] else 2)
    return total


def run_worker(args):
    if args.worker == "gemm":
        print(json.dumps({"gemm_gflops": gemm_worker(args.threads)}))
        return
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
    command = [sys.executable, str(Path(__file__).resolve()), "--worker", engine, "--threads", str(threads),
               "--steps", str(steps), "--warmup", str(warmup)] + (["--model", model] if model else [])
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
    parser.add_argument("--worker", choices=["tinycnn", "torch", "gemm"], help=argparse.SUPPRESS)
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
    """{model: {engine: [one worker's figures per round]}}, the engines taking turns within each round, and the
    machine's GEMM rate measured once a round."""
    results = {model: {engine: [] for engine in engines} for model in models}
    results["gemm_gflops"] = []
    for round_number in range(1, rounds + 1):
        results["gemm_gflops"].append(call_worker("gemm", None, threads, 0, 0)["gemm_gflops"])
        print(f"  round {round_number}, float32 GEMM {GEMM_SIZE}x{GEMM_SIZE}: "
              f"{results['gemm_gflops'][-1]:.0f} GFLOP/s", flush=True)
        for model in models:
            for engine in engines:
                results[model][engine].append(call_worker(engine, model, threads, steps, warmup))
                rate = results[model][engine][-1]["train_samples_per_s"]
                print(f"  round {round_number}, {model}, {engine}: {rate:,.0f} training samples/s", flush=True)
    return results


def summarise_model(runs, engines, flops_per_step, batch, gemm_rates):
    """One model's entry of the record: each engine's medians and ranges, the ratios paired by round, and
    tinycnn's training rate in GFLOP/s and as a share of the GEMM rate of the same round."""
    entry = {engine: {key: summarise([r[key] for r in runs[engine]])
                      for key in ("train_samples_per_s", "infer_samples_per_s", "peak_rss_mb")}
             for engine in engines}
    entry["training_flops_per_step"] = flops_per_step
    if "tinycnn" in engines:
        gflops = [r["train_samples_per_s"] / batch * flops_per_step / 1e9 for r in runs["tinycnn"]]
        entry["tinycnn_train_gflops"] = summarise(gflops)
        entry["share_of_gemm"] = summarise([rate / gemm for rate, gemm in zip(gflops, gemm_rates)])
    if "torch" in engines:
        for key in ("train_samples_per_s", "infer_samples_per_s"):
            entry[f"{key}_ratio"] = summarise([a[key] / b[key] for a, b in zip(runs["tinycnn"], runs["torch"])])
    return entry


def model_rows(model, entry, engines):
    description, batch, optimizer = MODELS[model]
    rows = []
    if "share_of_gemm" in entry:
        gflops, share = entry["tinycnn_train_gflops"], entry["share_of_gemm"]
        rows.append((f"{model}: training step, {entry['training_flops_per_step'] / 1e9:.3g} GFLOP; tinycnn's "
                     f"GFLOP/s and share of the GEMM rate", f"{gflops['median']:.1f} ({gflops['min']:.1f}-"
                     f"{gflops['max']:.1f})", "-", f"{share['median']:.1%} ({share['min']:.1%}-{share['max']:.1%})"))
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
    gemm_rates = results["gemm_gflops"]

    record = {
        "cpu": cpu_name(), "threads": args.threads, "rounds": rounds, "steps": steps, "warmup": warmup,
        "python": platform.python_version(), "numpy": np.__version__, "torch": torch_version,
        "blas": [dict(library, filepath=Path(library["filepath"]).name) for library in blas_in_use()],  # no folder
        "OPENBLAS_CORETYPE": os.environ.get("OPENBLAS_CORETYPE"),
        "command": " ".join([Path(sys.argv[0]).name] + (argv if argv is not None else sys.argv[1:])),
        "gemm_size": GEMM_SIZE, "gemm_gflops": summarise(gemm_rates),
        "models": {model: summarise_model(results[model], engines, training_flops(model, MODELS[model][1]),
                                          MODELS[model][1], gemm_rates) for model in models},
    }
    rows = [row for model in models for row in model_rows(model, record["models"][model], engines)]
    gemm = record["gemm_gflops"]
    rows.append((f"float32 GEMM, {GEMM_SIZE}x{GEMM_SIZE} np.matmul, {args.threads} threads: GFLOP/s (the limit)",
                 f"{gemm['median']:.0f} ({gemm['min']:.0f}-{gemm['max']:.0f})", "-", "-"))
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
