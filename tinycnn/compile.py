"""Compiling tinycnn's kernels: see what compiles and for how long, pay for it up front, say when it happens.

    python -m tinycnn.compile             # compile every kernel a training step and evaluation use, then exit
    python -m tinycnn.compile --report    # the same from an empty cache, with a table of what compiled
    python -m tinycnn.compile --clear     # forget every compiled kernel: each compiles again when next used

Numba compiles a kernel the first time it is called with a new signature
(the dtypes and dimensions of its arguments) and keeps the machine code in
``__pycache__`` so that later processes load it instead. So the first run on
a machine (a new clone, a new virtual environment, a CI job) pays for
compiling; every later run starts at once. Editing a kernel's file, or the
file of any helper its code is made from (``im2col.py`` for the conv
kernels, say), makes the kernels built from it compile again, and only
those (``kernels/jit.py``).

- ``warm_up(model)`` runs one training step and one evaluation of a copy of
  ``model`` on two random images (and the augmentation on two images), so
  that everything they need is compiled, or loaded from the cache, before
  training starts. The model, its statistics and every random generator are
  left as they were. On a machine with two cores or more, when the conv
  backward is not in the cache yet, a helper process (on Linux a fork of
  this one, which starts at once, unless other threads are running: a
  fork copies none of them, and a lock one of them held would never be
  released in the copy) compiles it, the parallel loop that runs
  the conv kernels and the augmentation (``kernels/fast/threads.py``), the conv
  forward's pools, the normalisation and the first layer's forward
  (``conv2d_windows.py``) while this one compiles the augmentation, the
  conv forward and the small kernels (linear, ReLU, log-softmax, NLL):
  Numba compiles one function at a time per process, and the two halves
  take about as long. If the helper fails, this process compiles its half
  too, and a line on stderr says so, with the end of the helper's output.
- ``compiling_notice()`` prints one line the first time Numba starts
  compiling inside it, and how long it took at the end; on a warm cache it
  prints nothing. The experiment scripts wrap their warm-up in it.
- ``library_notice``: the same line for any other program, the first time
  one of tinycnn's kernels starts compiling in the process (once, on
  stderr; ``kernels/jit.py`` hands it Numba's compile events), and how long
  the compiles took once none has started for ``QUIET_SECONDS``. Off with
  ``TINYCNN_COMPILE_NOTICE=0`` or ``set_notice(False)``, which silence
  ``compiling_notice()`` too.
- ``compile_events()`` records which kernels compiled, for which
  signatures, for how long: ``--report`` prints it.
"""

import argparse
import atexit
import contextlib
import copy
import inspect
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback

import numba
import numpy as np
from numba.core import event

import tinycnn.functional as F
from tinycnn import backend, nn, optim
from tinycnn.data import Augment
from tinycnn.data.augment import MNIST_MEAN, MNIST_STD, augment_part, normalize_batch
from tinycnn.kernels.fast import buffers
from tinycnn.kernels.fast.conv2d import conv2d_backward_part, conv2d_forward
from tinycnn.kernels.fast.conv2d_pool import bias_pool_relu_2x2, bias_pool_relu_across_filters, bias_pool_relu_any
from tinycnn.kernels.fast.conv2d_windows import conv2d_forward_windows_part
from tinycnn.kernels.jit import in_cache
from tinycnn.kernels.linear import linear_backward, linear_forward
from tinycnn.kernels.log_softmax import log_softmax_backward, log_softmax_forward
from tinycnn.kernels.nll import nll_backward, nll_forward
from tinycnn.kernels.relu import relu_backward, relu_forward, relu_forward_naive
from tinycnn.kernels.fast.threads import compile_loop_for
from tinycnn.random import default_generator
from tinycnn.tensor import Tensor, no_grad

NOTICE = ("compiling tinycnn's kernels for this machine with Numba: once (later runs load them from its cache; "
          "python -m tinycnn.compile compiles them all up front); {estimate} ...")
NOTICE_SWITCH = "TINYCNN_COMPILE_NOTICE"  # 0, false, no or off: no notice
LIBRARY_ESTIMATE = "10-40 s"  # a program's first compile, by the ops it uses: a linear layer alone to every op
QUIET_SECONDS = 2.0  # a compile burst has ended when no kernel has started compiling for this long
_notice_switch = None  # set_notice's choice; None: the environment's


def set_notice(enabled):
    """Whether the compile notice (the library's and ``compiling_notice()``'s) prints in this process, whatever
    TINYCNN_COMPILE_NOTICE says."""
    global _notice_switch
    _notice_switch = bool(enabled)


def notice_enabled():
    """set_notice's choice if it was called, else False when TINYCNN_COMPILE_NOTICE is 0, false, no or off."""
    if _notice_switch is not None:
        return _notice_switch
    return os.environ.get(NOTICE_SWITCH, "").strip().lower() not in ("0", "false", "no", "off")


def _notice_line(estimate):
    """NOTICE, with ``estimate`` (how long a first compile takes) or, when a common kernel (one that most
    programs run: the augmentation, ReLU's forward, fast or naive, the linear forward) is in the cache already,
    a few seconds: then this is not a first run but a kernel file edited since the last one (or a first use
    of another dtype or op), and only that file's kernels compile."""
    if any(in_cache(kernel) for kernel in (augment_part, relu_forward, relu_forward_naive, linear_forward)):
        return NOTICE.format(estimate="a few seconds: only kernels whose file changed, or new to this machine")
    return NOTICE.format(estimate=f"about {estimate} on a 2-core machine")


class _Notice(event.Listener):
    """Prints NOTICE when the first compile starts, unless the process has printed it already; remembers when, so
    the end can say how long."""

    def __init__(self, estimate):
        self.estimate, self.started, self.asked = estimate, None, False

    def on_start(self, compile_event):
        if not self.asked and notice_enabled():
            self.asked = True
            if library_notice.take_the_line():
                print(_notice_line(self.estimate), flush=True)
                self.started = time.perf_counter()

    def on_end(self, compile_event):
        pass


@contextlib.contextmanager
def compiling_notice(estimate="8 s"):
    """Within this block, the first compile prints one line saying so; the block's end says how long it took.

    ``estimate``: how long a first compile of everything takes (the study's models: 6-8 s on a 2-core
    machine; python -m tinycnn.compile, every op: 13-15 s). When only some kernels compile, the line says
    a few seconds instead. The line prints once per process: the library's notice keeps quiet within the
    block, and after it if the block printed.
    """
    notice = _Notice(estimate)
    library_notice.blocks_open += 1
    try:
        with event.install_listener("numba:compile", notice):
            yield
    finally:
        library_notice.blocks_open -= 1
    if notice.started is not None:
        print(f"compiled in {time.perf_counter() - notice.started:.1f} s", flush=True)


class _LibraryNotice:
    """The notice of a program that uses tinycnn as a library: ``kernels/jit.py`` calls ``on_start`` and
    ``on_end`` around each compile of a tinycnn kernel (Numba compiles one function at a time per process).

    The first start prints NOTICE on stderr and starts a thread that waits
    until no kernel has been compiling for QUIET_SECONDS, prints how long
    the compiles took, from the first start to the last end, and stops; if
    the program ends sooner, that line prints at exit. Once per process:
    after that, or after a ``compiling_notice()`` block printed the line,
    later compiles print nothing.
    """

    def __init__(self):
        self.lock = threading.Lock()
        self.state = "waiting"  # "compiling" from the first line to the second; "done" after, or a block printed
        self.blocks_open = 0  # compiling_notice() blocks: they print the line instead
        self.depth = 0  # compiles under way: a kernel's compile holds those of the kernels it calls
        self.started = self.last_end = self.stream = None

    def take_the_line(self):
        """For a compiling_notice() block: True if the line is not printed yet in this process (the block prints
        it, and this notice never will)."""
        with self.lock:
            if self.state != "waiting":
                return False
            self.state = "done"
            return True

    def on_start(self):
        if self.state == "done":  # the usual case after the first burst: no lock taken
            return
        with self.lock:
            if self.state == "waiting" and not self.blocks_open and notice_enabled():
                self.stream = sys.stderr  # the second line goes where the first went, whatever stderr is by then
                print(_notice_line(LIBRARY_ESTIMATE), file=self.stream, flush=True)
                self.state, self.started = "compiling", time.perf_counter()
                threading.Thread(target=self._wait_for_quiet, name="tinycnn compile notice", daemon=True).start()
                atexit.register(self._say_how_long)
            if self.state == "compiling":
                self.depth += 1

    def on_end(self):
        if self.state != "compiling":
            return
        with self.lock:
            if self.state == "compiling":
                self.depth -= 1
                if self.depth == 0:
                    self.last_end = time.perf_counter()

    def _wait_for_quiet(self):
        while self.state == "compiling":
            time.sleep(QUIET_SECONDS / 4)
            self._say_how_long(when_quiet=True)

    def _say_how_long(self, when_quiet=False):
        """The second line, once; with ``when_quiet``, only if no kernel has been compiling for QUIET_SECONDS."""
        with self.lock:
            if self.state != "compiling":
                return
            quiet = self.depth == 0 and time.perf_counter() - self.last_end >= QUIET_SECONDS
            if when_quiet and not quiet:
                return
            ended = self.last_end if self.depth == 0 else time.perf_counter()
            print(f"compiled in {ended - self.started:.1f} s", file=self.stream, flush=True)
            self.state = "done"


library_notice = _LibraryNotice()


class _Recorder(event.Listener):
    def __init__(self):
        self.stack, self.records = [], []

    def on_start(self, compile_event):
        self.stack.append((compile_event, time.perf_counter(), 0.0))

    def on_end(self, compile_event):
        started_event, started, inner = self.stack.pop()
        total = time.perf_counter() - started
        if self.stack:  # the caller's own time excludes this nested compile
            caller = self.stack[-1]
            self.stack[-1] = (caller[0], caller[1], caller[2] + total)
        dispatcher = compile_event.data["dispatcher"]
        self.records.append({"kernel": f"{dispatcher.py_func.__module__}.{dispatcher.py_func.__qualname__}",
                             "signature": str(compile_event.data["args"]), "seconds": total, "own_seconds": total - inner})


@contextlib.contextmanager
def compile_events():
    """Record every compile within the block: a list of {kernel, signature, seconds, own_seconds}."""
    recorder = _Recorder()
    with event.install_listener("numba:compile", recorder):
        yield recorder.records


def warm_up(model, image_shape=(1, 28, 28), dtype=np.float32, helper=True):
    """Compile (or load) the kernels of a training step and an evaluation of ``model``, and of the augmentation.

    Runs on a copy of the model and restores tinycnn's default generator,
    so that nothing a run will compute afterwards changes. With ``helper``,
    a cold cache is filled by two processes at once (see the module's
    docstring); ``helper`` may also be what ``start_helper`` returned, for a
    program that starts the helper before it starts threads of its own.
    """
    saved = default_generator().bit_generator.state
    started = helper if isinstance(helper, _Helper) else start_helper(dtype) if helper else None
    try:
        if started is not None:  # this process's half, while the helper does the other
            compile_conv_forward_and_data(dtype, image_shape)
            started.wait()  # the helper's kernels are in the cache now: the calls below load them
            started.report_failure()
        clone = copy.deepcopy(model).train()
        images = Tensor(np.random.default_rng(0).standard_normal((2,) + tuple(image_shape)).astype(dtype))
        optimizer = optim.SGD(clone.parameters(), lr=0.0)
        F.nll_loss(clone(images), np.array([0, 1])).backward()
        optimizer.step()
        with no_grad():
            clone.eval()(images)
        if backend.mode() == "fast":
            compile_conv_forward_and_data(dtype, image_shape)  # loaded by now, unless this model has no conv
        else:  # the model's step above compiled the reference kernels it runs; the data's kernel is the same in both
            compile_augmentation(dtype, image_shape)
    finally:
        default_generator().bit_generator.state = saved
        if started is not None and started.poll() is None:  # this process failed first: no need of the helper now
            started.kill()
            started.report_failure()


def _zeros(dtype):
    return lambda *shape: np.zeros(shape, dtype=dtype)


def compile_conv_forward_and_data(dtype, image_shape=(1, 28, 28)):
    """This process's half of a cold start: the augmentation, then the conv forward (which finds its pools in
    the cache: the other process compiled them first), then the small kernels (linear, log-softmax, NLL, both
    ways)."""
    compile_augmentation(dtype, image_shape)
    zeros = _zeros(dtype)
    conv2d_forward(zeros(2, 1, 6, 6), zeros(3, 1, 3, 3), zeros(3), stride=1, padding=0, relu=True, pool_kernel=2,
                   pool_stride=2, n_parts=numba.get_num_threads())
    linear_forward(zeros(2, 3), zeros(4, 3), zeros(4))
    linear_backward(zeros(2, 4), zeros(2, 3), zeros(4, 3))
    relu_forward(zeros(6))
    relu_backward(zeros(6), zeros(6))
    log_softmax_forward(zeros(2, 10))
    log_softmax_backward(zeros(2, 10), zeros(2, 10))
    nll_forward(zeros(2, 10), np.zeros(2, dtype=np.int64))
    nll_backward(1.0, zeros(2, 10), np.zeros(2, dtype=np.int64))


def compile_augmentation(dtype, image_shape=(1, 28, 28)):
    """The augmentation's kernels, run on two blank pictures."""
    pictures = np.zeros((2,) + tuple(image_shape[1:]), dtype=np.uint8)
    Augment(generator=np.random.default_rng(0), translate=0.1, dtype=dtype)(pictures)


def start_helper(dtype=np.float32):
    """Start the helper's half of a cold start in a second process, if it pays: on a machine of two cores or more,
    when the conv backward is not in the cache. Returns the process (``wait``, ``poll``, ``kill``,
    ``report_failure``), or None.

    On Linux the process is a fork of this one when no other thread runs:
    it has everything imported already, so it starts compiling at once (a
    new Python would first spend about half a second importing NumPy, Numba
    and tinycnn). Otherwise it is ``python -m tinycnn.compile --helper
    DTYPE``. Either way it only compiles: it runs no kernel, so it starts no
    threads and calls no BLAS. Its output goes to a temporary file, which
    ``report_failure`` shows if it failed.
    """
    if (os.cpu_count() or 1) < 2 or backend.mode() != "fast" or in_cache(conv2d_backward_part):
        return None  # the helper compiles the fast kernels' half
    if sys.platform.startswith("linux") and threading.active_count() == 1:
        return _ForkedHelper(dtype)
    return _HelperProcess(dtype)


class _Helper:
    """What both kinds of helper share: their output in a temporary file, and what to say if they failed."""

    def _open_output(self):
        handle, self.output = tempfile.mkstemp(prefix="tinycnn-compile-helper-", suffix=".log")
        return handle

    def report_failure(self):
        """After ``wait``: if the helper failed, one line on stderr (and the end of its output), once."""
        if not os.path.exists(self.output):
            return
        if self.returncode not in (0, None) and self.returncode != -signal.SIGKILL:
            with open(self.output, errors="replace") as output:
                tail = output.read()[-2000:].strip()
            print(f"tinycnn.compile: the helper process that compiles half of the kernels on the other core failed "
                  f"(exit status {self.returncode}); this process compiles its half as well, so this first run is "
                  f"slower." + (f" Its last output:\n{tail}" if tail else ""), file=sys.stderr, flush=True)
        with contextlib.suppress(OSError):
            os.remove(self.output)


class _HelperProcess(_Helper):
    """``python -m tinycnn.compile --helper DTYPE``: a new Python, for when forking this process is not safe."""

    def __init__(self, dtype):
        handle = self._open_output()
        self.process = subprocess.Popen([sys.executable, "-m", "tinycnn.compile", "--helper", np.dtype(dtype).name],
                                        stdout=handle, stderr=handle)
        os.close(handle)

    @property
    def returncode(self):
        return self.process.returncode

    def poll(self):
        return self.process.poll()

    def wait(self):
        return self.process.wait()

    def kill(self):
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


class _ForkedHelper(_Helper):
    """A forked child that runs ``compile_backward(dtype)`` and exits; waited for like a ``subprocess.Popen``."""

    def __init__(self, dtype):
        sys.stdout.flush()  # whatever is buffered here is printed once, by this process
        sys.stderr.flush()
        handle = self._open_output()
        self.pid, self.returncode = os.fork(), None
        if self.pid == 0:  # the child: never returns into the caller's code
            code = 1
            try:
                os.dup2(handle, 1)
                os.dup2(handle, 2)
                compile_backward(dtype)
                code = 0
            except BaseException:  # noqa: BLE001  (printed into the output file, for report_failure)
                traceback.print_exc()
                sys.stderr.flush()
            finally:
                os._exit(code)  # no atexit handlers, no flushing of buffers the parent owns
        os.close(handle)

    def poll(self):
        if self.returncode is None:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid != 0:
                self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def wait(self):
        if self.returncode is None:
            self.returncode = os.waitstatus_to_exitcode(os.waitpid(self.pid, 0)[1])
        return self.returncode

    def kill(self):
        if self.poll() is None:
            os.kill(self.pid, signal.SIGKILL)
            self.wait()


def _compile(kernel, *args, **kwargs):
    """Compile (or load from the cache) ``kernel`` for the types of these arguments, without running it."""
    bound = inspect.signature(kernel.py_func).bind(*args, **kwargs)
    kernel.compile(tuple(numba.typeof(value) for value in bound.arguments.values()))


def _compile_pools(dtype):
    """Compile (or load) the conv forward's three pools (``conv2d_pool.py``), for the types the forward passes."""
    zeros = _zeros(dtype)
    plane, pooled, winner = zeros(4, 4), zeros(2, 2), np.zeros((2, 2), dtype=np.int8)
    bias, relu = zeros(1)[0], True
    _compile(bias_pool_relu_2x2, plane, bias, relu, pooled, winner)
    _compile(bias_pool_relu_any, plane, bias, 2, 2, relu, pooled, winner)
    _compile(bias_pool_relu_across_filters, zeros(1, 16), zeros(1), 2, 2, 4, relu, zeros(1, 2, 2),
             np.zeros((1, 2, 2), dtype=np.int8), zeros(16, 1), zeros(1), np.zeros(1, dtype=np.int8))


def compile_backward(dtype):
    """The helper's half of a cold start, compiled (not run) for arguments of the types the engine passes, so
    that the other process finds each in the cache: first the parallel loop (``threads.run_in_parts``) for
    every kernel the training path runs through it, then the conv forward's pools, normalisation, the first
    layer's forward in window order and the conv backward."""
    zeros = _zeros(dtype)
    int8 = _zeros(np.int8)
    images = zeros(2, 1, 6, 6)
    pooled, winner = zeros(2, 3, 2, 2), int8(2, 3, 2, 2)
    windows_args = (images, zeros(9, 1, 3, 3), zeros(9), 1, 0, True, zeros(2, 9, 2, 2), int8(2, 9, 2, 2))
    backward_args = (pooled, images, zeros(3, 1, 3, 3), pooled, winner, 1, 0, True, 2, 2, True, True, zeros(2, 1, 6, 6),
                     zeros(2, 9, 3), zeros(2, 3, 1))
    # The loop first, for all four (2 s), and in this process only: the other reaches its first use of it after
    # compiling the augmentation, and Numba's cache index of one function, written by two processes at once,
    # can lose an entry.
    compile_loop_for(np.zeros((2, 28, 28), dtype=np.uint8), np.zeros(2, dtype=bool), np.zeros(2), np.zeros((2, 2)),
                     22, MNIST_MEAN, MNIST_STD, zeros(2, 1, 28, 28))  # the augmentation's
    compile_loop_for(images, zeros(3, 1, 3, 3), zeros(3), 1, 0, True, 2, 2, pooled, winner)  # the conv forward's
    compile_loop_for(*windows_args)
    compile_loop_for(*backward_args)
    # The pools next (1 s on a cold cache, loaded at once after an edit to conv2d.py, their callers' file), so
    # that they are in the cache when the other process's conv forward needs them.
    _compile_pools(dtype)
    _compile(normalize_batch, np.zeros((2, 28, 28), dtype=np.uint8), MNIST_MEAN, MNIST_STD, zeros(2, 1, 28, 28))
    _compile(conv2d_forward_windows_part, *windows_args, 0, 1)
    _compile(conv2d_backward_part, *backward_args, 0, 1)
    # the conv kernels' outputs of 4 MB or more (buffers.output_array): out, winner and dx
    _compile(buffers.empty, (2, 1, 6, 6), np.dtype(dtype))
    _compile(buffers.empty, (2, 1, 6, 6), np.int8)
    _compile(buffers.zeros, (2, 1, 6, 6), np.dtype(dtype))


def every_op_model():
    """A small network that uses every op of the engine, so that warming it up compiles every kernel."""
    return nn.Sequential(
        nn.Conv2d(1, 4, 3), nn.ReLU(), nn.MaxPool2d(2),  # conv + ReLU + pool, fused
        nn.Conv2d(4, 4, 3, bias=False), nn.BatchNorm2d(4), nn.ReLU(), nn.Dropout(0.1),  # plain conv, BN, ReLU alone
        nn.MaxPool2d(2), nn.Dropout2d(0.1), nn.AvgPool2d(2, 1), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
        nn.Linear(4, 10), nn.LogSoftmax(dim=1))


def clear():
    """Empty Numba's cache index of every kernel of tinycnn: each compiles again when next used. Returns the count."""
    import importlib
    import pkgutil

    import tinycnn
    cleared = 0
    for module_info in pkgutil.walk_packages(tinycnn.__path__, "tinycnn."):
        module = importlib.import_module(module_info.name)
        for value in vars(module).values():
            cache = getattr(value, "_cache", None)
            if getattr(value, "py_func", None) is not None and getattr(value.py_func, "__module__", None) == \
                    module.__name__ and hasattr(cache, "flush"):
                cache.flush()
                cleared += 1
    return cleared


def small_model():
    """A linear classifier: few kernels, for a quick look (and the tests)."""
    return nn.Sequential(nn.Flatten(), nn.Linear(28 * 28, 10), nn.LogSoftmax(dim=1))


BUILT_IN = {"every-op": every_op_model, "small": small_model}


def _model(name):
    if name in BUILT_IN:
        return BUILT_IN[name]()
    sys.path.insert(0, os.path.join(os.getcwd(), "experiments"))
    from models import MODELS  # the experiment scripts' models, when run from the repository
    return MODELS[name]()


def report(records):
    """The --report table: kernels by their own compile time, with signatures and totals."""
    lines = [f"{'kernel':<58}{'signatures':>11}{'own s':>8}{'with callees s':>16}"]
    by_kernel = {}
    for record in records:
        entry = by_kernel.setdefault(record["kernel"], {"signatures": set(), "own": 0.0, "total": 0.0})
        entry["signatures"].add(record["signature"])
        entry["own"] += record["own_seconds"]
        entry["total"] += record["seconds"]
    for kernel, entry in sorted(by_kernel.items(), key=lambda item: -item[1]["own"]):
        lines.append(f"{kernel.replace('tinycnn.', ''):<58}{len(entry['signatures']):>11}{entry['own']:>8.2f}"
                     f"{entry['total']:>16.2f}")
    own_total = sum(entry["own"] for entry in by_kernel.values())
    lines.append(f"{'all ' + str(len(by_kernel)) + ' kernels':<58}"
                 f"{sum(len(e['signatures']) for e in by_kernel.values()):>11}{own_total:>8.2f}")
    return "\n".join(lines)


def _measure(model_name, helper):
    """In this process (whose NUMBA_CACHE_DIR the caller chose): warm up, recording compiles; JSON on stdout."""
    started = time.perf_counter()
    with compile_events() as records:
        warm_up(_model(model_name), helper=helper)
    print(json.dumps({"records": records, "seconds": time.perf_counter() - started}))


def _measure_cold(model_name, helper):
    """Run _measure in a new process with an empty, temporary Numba cache; its JSON, or None if it failed."""
    with tempfile.TemporaryDirectory() as cache:
        run = subprocess.run([sys.executable, "-m", "tinycnn.compile", "--measure", "--model", model_name]
                             + (["--with-helper"] if helper else []),
                             env=dict(os.environ, NUMBA_CACHE_DIR=cache), capture_output=True, text=True)
    if run.returncode != 0:
        print(run.stderr[-3000:], file=sys.stderr)
        return None
    return json.loads(run.stdout.strip().splitlines()[-1])


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m tinycnn.compile", description=__doc__.splitlines()[0])
    parser.add_argument("--report", action="store_true",
                        help="compile from an empty cache (a temporary one; yours is left alone) and print what "
                             "compiled, for how many signatures, and how long each took")
    parser.add_argument("--model", default="every-op",
                        help="whose training path: every-op (default: every kernel of the engine), small (a linear "
                             "classifier), or a model of experiments/models.py such as minimal (run from the "
                             "repository)")
    parser.add_argument("--clear", action="store_true",
                        help="forget every compiled kernel of tinycnn, so that each compiles again when next used")
    parser.add_argument("--measure", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--helper", help=argparse.SUPPRESS)
    parser.add_argument("--with-helper", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.helper:
        compile_backward(np.dtype(args.helper))
        return 0
    if args.clear:
        print(f"cleared Numba's cache of {clear()} tinycnn kernels: each compiles again when next used")
        return 0
    if args.measure:
        _measure(args.model, helper=args.with_helper)
        return 0
    if not args.report:
        started = time.perf_counter()
        with compiling_notice("15 s" if args.model == "every-op" else "8 s"):
            warm_up(_model(args.model))
        print(f"tinycnn's kernels are compiled and cached ({time.perf_counter() - started:.1f} s)")
        return 0
    one_process = _measure_cold(args.model, helper=False)
    two_processes = _measure_cold(args.model, helper=True)
    if one_process is None or two_processes is None:
        return 1
    print(f"compiled from an empty cache for the training path of {args.model!r} (float32): "
          f"{one_process['seconds']:.1f} s in one process; {two_processes['seconds']:.1f} s as warm_up does it, "
          f"with a helper process on the other core\n")
    print(report(one_process["records"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
