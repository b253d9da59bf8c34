"""Check an op's gradients against finite differences, and show the numbers.

    python -m tinycnn.gradcheck conv2d                       # the defaults: a 2x2x6x6 input, 3 filters of 3x3
    python -m tinycnn.gradcheck conv2d --stride 2 --padding 1 --relu --pool 2
    python -m tinycnn.gradcheck conv2d --layer conv1         # the study's first layer, on its own fused path
    python -m tinycnn.gradcheck max_pool2d --height 7 --width 5 --kernel 3 --stride 2
    python -m tinycnn.gradcheck leaky_relu --option negative_slope=0.2   # any public function of F, no case needed
    python -m tinycnn.gradcheck my_op --from myops           # a function of your own module myops.py
    python -m tinycnn.gradcheck --list                       # every op it knows

How it checks. The op's output is turned into one number,
``loss = sum(output * R)`` with R fixed random weights, so that every output
entry matters. Autograd gives d(loss)/d(input) for each input (the
*analytic* gradient). Then each input entry is moved by +eps and -eps and
the loss recomputed: ``(loss(x + eps) - loss(x - eps)) / (2 eps)`` is the
*numeric* gradient, which is right up to eps**2 terms and rounding, with no
calculus involved. All in float64, so both are good to about 1e-9. An entry
passes when |analytic - numeric| <= atol + rtol * |numeric|.

What a pass proves: the backward agrees with the forward. It says nothing
of whether the forward is right: a kernel pair wrong in the same way both
ways (a max-pool turned into a min-pool, and its backward sending the
gradient to the minimum) passes. The forward is held to its ``_naive``
twin by tests/test_kernels.py, and the naive twin is the definition written
as loops, to be read.

ReLU and max-pool have kinks (at 0, at ties), where a finite difference
straddles two slopes; their inputs are drawn with distinct values well away
from 0, so no step of eps crosses a kink.

Ops. The built-in cases (``OPS`` below) are the ops that need inputs of
their own: a conv's weight, a loss's targets, a batch norm's statistics.
Any other name is looked up as a public function of tinycnn.functional,
or, with ``--from MODULE``, of a module of yours (imported first, so that
its ``tinycnn.backend.register`` runs), and checked generically: each
positional parameter without a default is a tensor input of shape
(--batch, --channels, --height, --width), all drawn with
``distinct_values``; the other parameters keep their defaults unless
``--option name=value`` sets them. A ``Function`` subclass can be named
the same way (its forward's positional parameters are the inputs).
``check_function`` does the same from Python.

The test suite's gradient checks call ``check_gradients`` here. Exit status
of the command: 0 when every input is within tolerance, 1 when one is not
(the output names it), 2 on bad flags.
"""

import argparse
import ast
import dataclasses
import importlib
import inspect
import math
import signal
import sys

import numpy as np

import tinycnn.functional as F
from tinycnn import backend, fusion
from tinycnn.kernels.fast.conv2d_windows import pools_in_window_order
from tinycnn.tensor import Function, Tensor, no_grad

EPS = 1e-6
RTOL, ATOL = 1e-5, 1e-7

# Printed with every run of the command: what a pass means, and where the rest of the proof is.
WHAT_IT_PROVES = ("What a pass proves: the backward agrees with the forward (these are its finite differences). "
                  "Not that the forward\nis right: a consistently wrong pair (min-pool for max-pool) passes; "
                  "tests/test_kernels.py holds it to its _naive twin.")


def distinct_values(rng, shape, gap=0.05, dtype=np.float64):
    """Random values, all different by at least ``gap`` and at least gap/2 away from 0.

    Max-pool and ReLU are not differentiable at ties and at 0; with these
    values a finite-difference step of 1e-6 never crosses such a point, so
    the check is fair.
    """
    size = int(np.prod(shape))
    ranks = rng.permutation(size) - size // 2  # distinct integers around 0
    values = (ranks + 0.5) * gap  # the odd multiples of gap/2: none is 0
    return values.reshape(shape).astype(dtype)


def numerical_gradient(scalar_fn, array, eps=EPS):
    """Central differences of scalar_fn() with respect to each entry of ``array`` (changed in place, then restored)."""
    grad = np.zeros_like(array)
    for index in np.ndindex(array.shape):
        original = array[index]
        array[index] = original + eps
        plus = scalar_fn()
        array[index] = original - eps
        minus = scalar_fn()
        array[index] = original
        grad[index] = (plus - minus) / (2 * eps)
    return grad


@dataclasses.dataclass
class InputCheck:
    """The analytic and numeric gradients of one input, and how far apart they are."""

    name: str
    analytic: np.ndarray | None  # None: autograd gave this input no gradient
    numeric: np.ndarray
    rtol: float
    atol: float

    @property
    def errors(self):
        """|analytic - numeric| over what is allowed, per entry: the entry passes when this is <= 1."""
        return np.abs(self.analytic - self.numeric) / (self.atol + self.rtol * np.abs(self.numeric))

    @property
    def ok(self):
        return self.analytic is not None and self.analytic.shape == self.numeric.shape and bool(
            np.all(self.errors <= 1.0))

    def describe(self, entries=3):
        """A few entries side by side, then the worst one, then the verdict.

        The entries shown are the first whose numeric gradient is not zero: most of a max-pool's input won no
        window and has a gradient of 0 both ways, which shows nothing. Entries of gradient 0 fill in only when
        there are too few others.
        """
        lines = [f"{self.name} {self.numeric.shape}:"]
        if self.analytic is None or self.analytic.shape != self.numeric.shape:
            got = "no gradient" if self.analytic is None else f"a gradient of shape {self.analytic.shape}"
            return "\n".join(lines + [f"  autograd gave {got}  FAIL"])
        moving = np.abs(self.numeric) > self.atol  # "not zero": above the tolerance, so rounding noise is zero
        if 0 < moving.sum() < moving.size:
            lines[0] = (f"{self.name} {self.numeric.shape}: {int(moving.sum())} of {moving.size} entries have a "
                        f"non-zero numeric gradient, shown first:")
        first = [tuple(int(i) for i in index) for index in np.argwhere(moving)]
        first += [tuple(int(i) for i in index) for index in np.argwhere(~moving)][:max(entries - len(first), 0)]
        lines.append(f"  {'entry':<22}{'analytic':>18}{'numeric':>18}{'|difference|':>14}")
        worst = tuple(int(i) for i in np.unravel_index(int(np.argmax(self.errors)), self.numeric.shape))
        for label, index in [(str(i), i) for i in first[:entries]] + [(f"worst {worst}", worst)]:
            if not self.numeric.size:
                break
            a, n = self.analytic[index], self.numeric[index]
            lines.append(f"  {label:<22}{a:>18.12f}{n:>18.12f}{abs(a - n):>14.2e}")
        worst_error = float(self.errors.max()) if self.numeric.size else 0.0
        lines.append(f"  worst |difference| / (atol + rtol * |numeric|) = {worst_error:.3g}  "
                     f"{'pass' if self.ok else 'FAIL'}")
        return "\n".join(lines)


def gradient_check(fn, arrays, names=None, seed=0, rtol=RTOL, atol=ATOL, wrt=None, eps=EPS):
    """Analytic against numeric gradients of ``fn(*tensors)``, in float64: one ``InputCheck`` per checked input.

    ``arrays`` are the inputs' values; ``wrt`` lists the indices of those to
    check (default: all); ``names`` labels them in the report.
    """
    arrays = [np.array(a, dtype=np.float64) for a in arrays]
    names = names or [f"input {i}" for i in range(len(arrays))]
    wrt = range(len(arrays)) if wrt is None else wrt
    tensors = [Tensor(a, requires_grad=i in wrt) for i, a in enumerate(arrays)]
    out = fn(*tensors)
    weights = np.random.default_rng(seed).standard_normal(out.shape)  # R: every output entry matters
    (out * Tensor(weights)).sum().backward()

    def loss():
        with no_grad():
            return float((fn(*[Tensor(a) for a in arrays]).data * weights).sum())

    return [InputCheck(names[i], tensors[i].grad, numerical_gradient(loss, arrays[i], eps), rtol, atol) for i in wrt]


def _raise_if_off(checks):
    failed = [check for check in checks if not check.ok]
    if failed:
        raise AssertionError("gradient differs from finite differences:\n"
                             + "\n".join(check.describe() for check in failed))
    return checks


def check_gradients(fn, arrays, seed=0, rtol=RTOL, atol=ATOL, wrt=None, names=None):
    """``gradient_check``, raising AssertionError with the report of every input that is off; returns the checks."""
    return _raise_if_off(gradient_check(fn, arrays, names, seed, rtol, atol, wrt))


def check_function(function, *arrays, wrt=None, seed=0, rtol=RTOL, atol=ATOL, **options):
    """Check an op of your own: ``function`` applied to float64 tensors of ``arrays`` with the keyword ``options``.

    ``function`` is a ``Function`` subclass (it is applied as
    ``function.apply(*tensors, **options)``) or an F-style function (called
    the same way). ``wrt`` lists the indices of the inputs to check (default
    all); ``seed``, ``rtol`` and ``atol`` are the check's, every other
    keyword is the op's. Raises AssertionError with the report of each input
    that is off; returns the ``InputCheck`` of each checked input, to print
    with ``describe()``. For an op with kinks (ReLU-like, max-like), make
    the arrays with ``distinct_values``.
    """
    apply, parameters = _callable_and_parameters(function)
    positional = [p.name for p in parameters if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    names = positional[:len(arrays)] + [f"input {i}" for i in range(len(positional), len(arrays))]
    return _raise_if_off(gradient_check(lambda *tensors: apply(*tensors, **options), arrays, names, seed, rtol, atol,
                                        wrt))


def _is_function_class(value):
    return isinstance(value, type) and issubclass(value, Function)


def _callable_and_parameters(function):
    """(what to call, its parameters): ``apply`` and the forward's parameters after ctx for a Function subclass,
    the function and its own parameters otherwise."""
    if _is_function_class(function):
        return function.apply, list(inspect.signature(function.forward).parameters.values())[1:]
    return function, list(inspect.signature(function).parameters.values())


# ----- the ops the command knows -------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Op:
    """How to check one op: ``make(args, rng)`` returns (fn, arrays, names, a line saying what is checked)."""

    make: object
    help: str


# The study's two conv layers (experiments/models.py MinimalNet, the model iter4.py trains), each with the sizes it
# has there. The fast conv picks its path by the filters, channels and pool (kernels/fast/conv2d.py); a smaller H and
# W keeps the same path, so --height and --width can shrink a layer to check it quicker.
LAYERS = {
    "conv1": dict(batch=2, channels=1, height=28, width=28, out_channels=16, kernel=3, pool=2),
    "conv2": dict(batch=1, channels=16, height=13, width=13, out_channels=32, kernel=3, pool=3),
}


def _conv2d(args, rng):
    N, C, H, W, Fo, K = args.batch, args.channels, args.height, args.width, args.out_channels, args.kernel
    stride = args.stride or 1
    arrays = [rng.standard_normal((N, C, H, W)), rng.standard_normal((Fo, C, K, K)), rng.standard_normal(Fo)]

    def fn(x, weight, bias):
        out = F.conv2d(x, weight, bias, stride=stride, padding=args.padding)
        out = F.relu(out) if args.relu else out
        return F.max_pool2d(out, args.pool) if args.pool else out

    extra = (", then ReLU" if args.relu else "") + (f", then max-pool {args.pool}" if args.pool else "")
    layer = f"the study's {args.layer} (MinimalNet's, iter4.py's), every entry: " if args.layer else ""
    return fn, arrays, ["input", "weight", "bias"], f"{layer}stride {stride}, padding {args.padding}{extra}"


def _max_pool2d(args, rng):
    x = distinct_values(rng, (args.batch, args.channels, args.height, args.width))
    return (lambda x: F.max_pool2d(x, args.kernel, args.stride)), [x], ["input"], \
        f"kernel {args.kernel}, stride {args.stride or args.kernel}; distinct input values (no ties)"


def _batch_norm(args, rng):
    N, C, H, W = args.batch, args.channels, args.height, args.width
    arrays = [rng.standard_normal((N, C, H, W)) * 2 + 1, rng.standard_normal(C), rng.standard_normal(C)]
    mean, var = rng.standard_normal(C), rng.uniform(0.5, 2.0, C)
    training = not args.eval

    def fn(x, weight, bias):  # fresh running statistics each call: training moves them
        return F.batch_norm(x, mean.copy(), var.copy(), weight, bias, training=training)

    return fn, arrays, ["input", "weight", "bias"], "training (batch statistics)" if training else \
        "evaluation (running statistics)"


def _dropout(op):
    def make(args, rng):
        x = rng.standard_normal((args.batch, args.channels, args.height, args.width))
        return (lambda x: op(x, args.p, generator=np.random.default_rng(args.seed))), [x], ["input"], \
            f"p {args.p}; the same mask in every call (one seed)"
    return make


def _avg_pool2d(args, rng):
    x = rng.standard_normal((args.batch, args.channels, args.height, args.width))
    return (lambda x: F.avg_pool2d(x, args.kernel, args.stride)), [x], ["input"], \
        f"kernel {args.kernel}, stride {args.stride or args.kernel}"


def _adaptive_avg_pool2d(args, rng):
    x = rng.standard_normal((args.batch, args.channels, args.height, args.width))
    return (lambda x: F.adaptive_avg_pool2d(x, args.output_size)), [x], ["input"], f"output size {args.output_size}"


def _linear(args, rng):
    N, D, M = args.batch, args.features, args.out_features
    arrays = [rng.standard_normal((N, D)), rng.standard_normal((M, D)), rng.standard_normal(M)]
    return F.linear, arrays, ["input", "weight", "bias"], ""


def _relu(args, rng):
    x = distinct_values(rng, (args.batch, args.channels, args.height, args.width))
    return F.relu, [x], ["input"], "distinct input values, none near 0"


def _log_softmax(args, rng):
    x = rng.standard_normal((args.batch, args.classes)) * 3
    return (lambda x: F.log_softmax(x, dim=args.dim)), [x], ["input"], f"dim {args.dim}"


def _loss(loss_fn):
    def make(args, rng):
        target = rng.integers(0, args.classes, args.batch)
        scores = rng.standard_normal((args.batch, args.classes))
        return (lambda x: loss_fn(x, target)), [scores], ["input"], f"targets {target.tolist()}"
    return make


def _binary(operator):
    def make(args, rng):
        a = rng.standard_normal((args.batch, args.features))
        b = rng.uniform(0.5, 2.0, args.features) * rng.choice([-1, 1], args.features)  # away from 0, for division
        return operator, [a, b], ["a", "b"], f"b of shape ({args.features},) broadcast over a's rows"
    return make


def _reduction(method):
    def make(args, rng):
        return (lambda x: getattr(x, method)()), [rng.standard_normal((args.batch, args.features))], ["input"], ""
    return make


OPS = {
    "conv2d": Op(_conv2d, "F.conv2d (--relu, --pool: fused with ReLU and max-pool; --layer: the study's layers)"),
    "max_pool2d": Op(_max_pool2d, "F.max_pool2d"),
    "batch_norm": Op(_batch_norm, "F.batch_norm (--eval: with running statistics)"),
    "dropout": Op(_dropout(F.dropout), "F.dropout (--p)"),
    "dropout2d": Op(_dropout(F.dropout2d), "F.dropout2d (--p)"),
    "avg_pool2d": Op(_avg_pool2d, "F.avg_pool2d"),
    "adaptive_avg_pool2d": Op(_adaptive_avg_pool2d, "F.adaptive_avg_pool2d (--output-size)"),
    "linear": Op(_linear, "F.linear"),
    "relu": Op(_relu, "F.relu"),
    "log_softmax": Op(_log_softmax, "F.log_softmax"),
    "nll_loss": Op(_loss(F.nll_loss), "F.nll_loss"),
    "cross_entropy": Op(_loss(F.cross_entropy), "F.cross_entropy"),
    "add": Op(_binary(lambda a, b: a + b), "a + b, broadcasting"),
    "sub": Op(_binary(lambda a, b: a - b), "a - b, broadcasting"),
    "mul": Op(_binary(lambda a, b: a * b), "a * b, broadcasting"),
    "div": Op(_binary(lambda a, b: a / b), "a / b, broadcasting"),
    "sum": Op(_reduction("sum"), "Tensor.sum"),
    "mean": Op(_reduction("mean"), "Tensor.mean"),
    "flatten": Op(lambda args, rng: (F.flatten, [rng.standard_normal((args.batch, args.channels, args.height,
                                                                       args.width))], ["input"], ""), "F.flatten"),
}


# ----- any other op: a public function of tinycnn.functional, or of a module of yours --------------------------


class LookupFailed(Exception):
    """The op named cannot be found or cannot be checked generically; the message says why, in one line."""


def find_op(name, module_name=None):
    """The public function (or ``Function`` subclass) ``name`` of ``module_name``, imported first so that its
    ``tinycnn.backend.register`` calls run; of tinycnn.functional by default."""
    if module_name is None:
        module = F
    else:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as error:
            raise LookupFailed(f"--from {module_name}: {error} (run from the folder that holds it, or put that folder "
                               f"on PYTHONPATH)") from None
    found = getattr(module, name, None)
    if name.startswith("_") or not (inspect.isfunction(found) or _is_function_class(found)):
        where = module.__name__
        others = "" if module_name else f"; built-in cases: {', '.join(OPS)}"
        raise LookupFailed(f"unknown op {name!r}: {where} has no public function {name}{others}")
    return found


def generic_op(function, options):
    """An ``Op`` checking ``function`` with the keyword ``options``: each positional parameter without a default (and
    not among the options) is a tensor input of shape (N, C, H, W); the others keep their defaults."""
    apply, parameters = _callable_and_parameters(function)
    takes_any = any(p.kind == p.VAR_KEYWORD for p in parameters)
    by_name = {p.name: p for p in parameters if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)}
    unknown = [name for name in options if name not in by_name and not takes_any]
    label = ("F." if function.__module__ == F.__name__ else f"{function.__module__}.") + function.__qualname__
    if unknown:
        raise LookupFailed(f"{label} has no parameter {', '.join(unknown)} (it has {', '.join(by_name) or 'none'})")
    positional = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    inputs = [p.name for p in parameters if p.kind in positional and p.default is p.empty and p.name not in options]
    if _is_function_class(function):  # a forward's positional parameters are all tensors, defaults or not
        inputs = [p.name for p in parameters if p.kind in positional and p.name not in options]
    missing = [p.name for p in by_name.values() if p.kind == p.KEYWORD_ONLY and p.default is p.empty
               and p.name not in options]
    if missing:
        raise LookupFailed(f"{label} needs {', '.join(missing)}: give each as --option NAME=VALUE")
    if not inputs:
        raise LookupFailed(f"{label} has no positional parameter without a default: nothing to take a gradient of")
    shown = {p.name: p.default for p in by_name.values() if p.name not in inputs and p.default is not p.empty}
    shown.update(options)

    def make(args, rng):
        shape = (args.batch, args.channels, args.height, args.width)
        values = distinct_values(rng, (len(inputs),) + shape)  # distinct across the inputs too: no ties between them
        call = f"{label}({', '.join(inputs + [f'{k}={v!r}' for k, v in shown.items()])})"
        return (lambda *tensors: apply(*tensors, **options)), list(values), inputs, \
            f"{call}; distinct input values, none near 0"

    return Op(make, f"{label}, checked generically")


def generic_candidates():
    """The public functions of tinycnn.functional that have no built-in case: the command checks them generically."""
    return {name: value for name, value in vars(F).items() if inspect.isfunction(value) and not name.startswith("_")
            and value.__module__ == F.__name__ and name not in OPS}


def _option(text):
    """``name=value`` -> (name, value), the value read as a Python literal if it is one (0.2, 3, (2, 2), True)."""
    name, equals, value = text.partition("=")
    if not equals or not name.strip().isidentifier():
        raise argparse.ArgumentTypeError(f"--option takes NAME=VALUE, got {text!r}")
    try:
        return name.strip(), ast.literal_eval(value)
    except (ValueError, SyntaxError):
        return name.strip(), value  # not a literal: the string itself


# ----- which kernels ran ------------------------------------------------------------------------------------------


def what_runs(fn, arrays):
    """A line naming the kernel set, fusion, and what one forward of ``fn`` joins into one kernel call.

    It calls ``fn`` once and looks at the result before its value is computed (a fused op is pending until read).
    """
    with no_grad():
        out = fn(*[Tensor(np.array(a, dtype=np.float64)) for a in arrays])
    line = f"kernels: {backend.mode()}, fusion {'on' if fusion.is_enabled() else 'off'}"
    if not fusion.is_enabled():
        return line + " (each op its own kernel call)"
    if not (isinstance(out, fusion.Pending) and out.pending):
        return line
    options = out.options
    names = {F.Conv2dFunction: "conv", F.BatchNormFunction: "batch norm"}
    parts = [names.get(out.function, out.function.__name__)]
    parts += (["ReLU"] if options.get("relu") else []) + (["max-pool"] if options.get("pool_kernel") else [])
    if len(parts) == 1:  # nothing joined it
        return line
    line += f" ({' + '.join(parts)} as one kernel call"
    if out.function is F.Conv2dFunction and backend.mode() == "fast" and options.get("pool_kernel"):
        weight = out.inputs[1]
        if pools_in_window_order(weight.shape[0], math.prod(weight.shape[1:]), options["pool_kernel"],
                                 options["pool_stride"]):
            line += "; its forward in the pool's window order, kernels/fast/conv2d_windows.py"
    return line + ")"


# ----- the command ------------------------------------------------------------------------------------------------


class _OneLineParser(argparse.ArgumentParser):
    def error(self, message):
        print(f"gradcheck: error: {message} (see python -m tinycnn.gradcheck --help)", file=sys.stderr)
        sys.exit(2)


SIZES = (("batch", 2, "N, the batch"), ("channels", 2, "C, input channels"), ("height", 6, "H"), ("width", 6, "W"),
         ("out-channels", 3, "F, conv filters"), ("kernel", 3, "conv kernel / pool window size"),
         ("features", 5, "D, linear input features"), ("out-features", 4, "M, linear output features"),
         ("classes", 4, "K, classes of log_softmax and the losses"))


def parse_args(argv):
    parser = _OneLineParser(prog="python -m tinycnn.gradcheck", description=__doc__.splitlines()[0])
    parser.add_argument("op", nargs="?", help="the op to check: a built-in case, or any public function of "
                                              "tinycnn.functional (or of --from MODULE); --list shows them")
    parser.add_argument("--list", action="store_true", help="list the ops and exit")
    parser.add_argument("--from", dest="module", metavar="MODULE",
                        help="find the op in this module of yours (importable: run from its folder), not in "
                             "tinycnn.functional; it is imported first, so its backend.register runs")
    parser.add_argument("--option", action="append", default=[], type=_option, metavar="NAME=VALUE",
                        help="a keyword option of an op checked generically, e.g. negative_slope=0.2 (repeatable)")
    sizes = parser.add_argument_group("shapes")
    for flag, default, meaning in SIZES:
        sizes.add_argument(f"--{flag}", type=int, help=f"{meaning} (default {default})")
    parser.add_argument("--stride", type=int, help="stride (default: 1 for conv2d, the kernel for max_pool2d)")
    parser.add_argument("--padding", type=int, default=0, help="conv2d's zero padding (default 0)")
    parser.add_argument("--relu", action="store_true", help="conv2d: a ReLU after the conv")
    parser.add_argument("--pool", type=int, help="conv2d: a max-pool of this size after the conv (default 0: none)")
    parser.add_argument("--layer", choices=sorted(LAYERS),
                        help="conv2d: one of the study's two fused layers, with its sizes, ReLU and pool "
                             "(conv1: 1 -> 16 channels, 3x3, 2x2 pool, 2 images of 28x28, which runs "
                             "kernels/fast/conv2d_windows.py's forward; conv2: 16 -> 32, 3x3, 3x3 pool, one image "
                             "of 13x13); a smaller --height and --width keep the same path")
    parser.add_argument("--dim", type=int, default=1, help="log_softmax's dim (default 1)")
    parser.add_argument("--eval", action="store_true", help="batch_norm: evaluation mode")
    parser.add_argument("--p", type=float, default=0.5, help="dropout probability (default 0.5)")
    parser.add_argument("--output-size", type=int, default=1, help="adaptive_avg_pool2d's output size (default 1)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the inputs and of R (default 0)")
    parser.add_argument("--kernels", choices=backend.MODES, default=backend.mode(),
                        help="the kernel set to check: fast (the default; what the engine runs) or reference (the "
                             "naive twins, fusion off: the kernels to check after editing one); the same as "
                             "TINYCNN_KERNELS")
    parser.add_argument("--entries", type=int, default=3, help="entries shown before the worst (default 3)")
    parser.add_argument("--rtol", type=float, default=RTOL, help=f"relative tolerance (default {RTOL})")
    parser.add_argument("--atol", type=float, default=ATOL, help=f"absolute tolerance (default {ATOL})")
    args = parser.parse_args(argv)
    if not args.list and not args.op:
        parser.error("which op? e.g. conv2d")
    if args.layer:
        if args.op != "conv2d" or args.module:
            parser.error("--layer goes with conv2d (the built-in case)")
        args.relu = True
    layer = LAYERS.get(args.layer, {})
    for flag, default, _ in SIZES + (("pool", 0, ""),):  # a flag given wins over the layer's size, which wins over
        name = flag.replace("-", "_")                     # the default
        if getattr(args, name) is None:
            setattr(args, name, layer.get(name, default))
    sizes_given = [flag for flag, _, _ in SIZES if getattr(args, flag.replace("-", "_")) < 1]
    if sizes_given or (args.stride is not None and args.stride < 1) or args.padding < 0 or args.pool < 0:
        parser.error("sizes, --stride and --pool must be >= 1 (--pool 0: none) and --padding >= 0")
    args.option = dict(args.option)
    return args


def list_ops(ops):
    """The built-in cases, then the public functions of tinycnn.functional that are checked generically."""
    generic = generic_candidates()
    width = max(map(len, list(ops) + list(generic))) + 2  # one column wide enough for the longest name
    lines = [f"{name:<{width}}{op.help}" for name, op in ops.items()]
    lines += ["", "checked generically (inputs of shape (--batch, --channels, --height, --width), options by "
                  "--option NAME=VALUE):"]
    for name, function in generic.items():
        summary = (inspect.getdoc(function) or "").split("\n")[0]
        lines.append(f"{name:<{width}}F.{name}{inspect.signature(function)}{': ' + summary if summary else ''}")
    if not generic:
        lines.append("(none now: every public function of tinycnn.functional has a built-in case above)")
    lines.append("any function of a module of yours, with --from MODULE")
    return "\n".join(lines)


def main(argv=None, ops=OPS):
    """The command; returns its exit status. ``ops`` can be replaced (the tests check a wrong backward this way)."""
    args = parse_args(argv)
    if args.list:
        print(list_ops(ops))
        return 0
    with backend.use(args.kernels):  # every op of the check on the set asked for; the caller's set back afterwards
        return run_check(args, ops)


def run_check(args, ops):
    """``main``'s work once the flags are read: check the op, print the report, return the exit status."""
    rng = np.random.default_rng(args.seed)
    try:
        if args.module is None and args.op in ops:
            if args.option:
                raise LookupFailed(f"--option is for ops checked generically; {args.op} is a built-in case with "
                                   f"flags of its own (see --help)")
            op = ops[args.op]
        else:
            op = generic_op(find_op(args.op, args.module), args.option)
        fn, arrays, names, details = op.make(args, rng)
        path = what_runs(fn, arrays)
        checks = gradient_check(fn, arrays, names, args.seed, args.rtol, args.atol)
    except (LookupFailed, ValueError, TypeError) as error:  # no such op, or it refused these shapes: one line
        print(f"gradcheck: error: {error}", file=sys.stderr)
        return 2
    shapes = ", ".join(f"{name} {np.shape(array)}" for name, array in zip(names, arrays))
    print(f"gradcheck {args.op}: {shapes}{'; ' + details if details else ''}; float64, seed {args.seed}")
    print(path)
    print(f"loss = sum(output * R) with R fixed random weights; numeric = central differences, eps {EPS:g}; "
          f"an entry passes when |analytic - numeric| <= {args.atol:g} + {args.rtol:g} * |numeric|")
    print(WHAT_IT_PROVES + "\n")
    for check in checks:
        print(check.describe(args.entries) + "\n")
    failed = [check.name for check in checks if not check.ok]
    if failed:
        print(f"FAIL: the gradient of {', '.join(failed)} differs from finite differences")
        return 1
    print(f"ok: all {len(checks)} input(s) within tolerance")
    return 0


if __name__ == "__main__":
    if hasattr(signal, "SIGPIPE"):  # `... | head` closing the pipe ends the output quietly, as other commands do
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    sys.exit(main())
