"""Check an op's gradients against finite differences, and show the numbers.

    python -m tinycnn.gradcheck conv2d                       # the defaults: a 2x2x6x6 input, 3 filters of 3x3
    python -m tinycnn.gradcheck conv2d --stride 2 --padding 1 --relu --pool 2
    python -m tinycnn.gradcheck max_pool2d --height 7 --width 5 --kernel 3 --stride 2
    python -m tinycnn.gradcheck --list                       # every op it knows

How it checks. The op's output is turned into one number,
``loss = sum(output * R)`` with R fixed random weights, so that every output
entry matters. Autograd gives d(loss)/d(input) for each input (the
*analytic* gradient). Then each input entry is moved by +eps and -eps and
the loss recomputed: ``(loss(x + eps) - loss(x - eps)) / (2 eps)`` is the
*numeric* gradient, which is right up to eps**2 terms and rounding, with no
calculus involved. All in float64, so both are good to about 1e-9. An entry
passes when |analytic - numeric| <= atol + rtol * |numeric|.

ReLU and max-pool have kinks (at 0, at ties), where a finite difference
straddles two slopes; their inputs are drawn with distinct values well away
from 0, so no step of eps crosses a kink.

The test suite's gradient checks call ``check_gradients`` here. Exit status
of the command: 0 when every input is within tolerance, 1 when one is not
(the output names it), 2 on bad flags.
"""

import argparse
import dataclasses
import sys

import numpy as np

import tinycnn.functional as F
from tinycnn.tensor import Tensor, no_grad

EPS = 1e-6
RTOL, ATOL = 1e-5, 1e-7


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
        """A few entries side by side, then the worst one, then the verdict."""
        lines = [f"{self.name} {self.numeric.shape}:"]
        if self.analytic is None or self.analytic.shape != self.numeric.shape:
            got = "no gradient" if self.analytic is None else f"a gradient of shape {self.analytic.shape}"
            return "\n".join(lines + [f"  autograd gave {got}  FAIL"])
        lines.append(f"  {'entry':<22}{'analytic':>18}{'numeric':>18}{'|difference|':>14}")
        indices = list(np.ndindex(self.numeric.shape))
        worst = tuple(int(i) for i in np.unravel_index(int(np.argmax(self.errors)), self.numeric.shape))
        for label, index in [(str(i), i) for i in indices[:entries]] + [(f"worst {worst}", worst)]:
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


def check_gradients(fn, arrays, seed=0, rtol=RTOL, atol=ATOL, wrt=None, names=None):
    """``gradient_check``, raising AssertionError with the report of every input that is off."""
    failed = [check for check in gradient_check(fn, arrays, names, seed, rtol, atol, wrt) if not check.ok]
    if failed:
        raise AssertionError("gradient differs from finite differences:\n"
                             + "\n".join(check.describe() for check in failed))


# ----- the ops the command knows -------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Op:
    """How to check one op: ``make(args, rng)`` returns (fn, arrays, names, a line saying what is checked)."""

    make: object
    help: str


def _conv2d(args, rng):
    N, C, H, W, Fo, K = args.batch, args.channels, args.height, args.width, args.out_channels, args.kernel
    stride = args.stride or 1
    arrays = [rng.standard_normal((N, C, H, W)), rng.standard_normal((Fo, C, K, K)), rng.standard_normal(Fo)]

    def fn(x, weight, bias):
        out = F.conv2d(x, weight, bias, stride=stride, padding=args.padding)
        out = F.relu(out) if args.relu else out
        return F.max_pool2d(out, args.pool) if args.pool else out

    extra = (", then ReLU" if args.relu else "") + (f", then max-pool {args.pool}" if args.pool else "")
    return fn, arrays, ["input", "weight", "bias"], f"stride {stride}, padding {args.padding}{extra}"


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
    "conv2d": Op(_conv2d, "F.conv2d (with --relu and --pool: the fused conv + ReLU + max-pool)"),
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


class _OneLineParser(argparse.ArgumentParser):
    def error(self, message):
        print(f"gradcheck: error: {message} (see python -m tinycnn.gradcheck --help)", file=sys.stderr)
        sys.exit(2)


def parse_args(argv, ops):
    parser = _OneLineParser(prog="python -m tinycnn.gradcheck", description=__doc__.splitlines()[0])
    parser.add_argument("op", nargs="?", help="the op to check; --list shows them")
    parser.add_argument("--list", action="store_true", help="list the ops and exit")
    sizes = parser.add_argument_group("shapes")
    for flag, default, meaning in (("batch", 2, "N, the batch"), ("channels", 2, "C, input channels"),
                                   ("height", 6, "H"), ("width", 6, "W"), ("out-channels", 3, "F, conv filters"),
                                   ("kernel", 3, "conv kernel / pool window size"),
                                   ("features", 5, "D, linear input features"),
                                   ("out-features", 4, "M, linear output features"),
                                   ("classes", 4, "K, classes of log_softmax and the losses")):
        sizes.add_argument(f"--{flag}", type=int, default=default, help=f"{meaning} (default {default})")
    parser.add_argument("--stride", type=int, help="stride (default: 1 for conv2d, the kernel for max_pool2d)")
    parser.add_argument("--padding", type=int, default=0, help="conv2d's zero padding (default 0)")
    parser.add_argument("--relu", action="store_true", help="conv2d: a ReLU after the conv")
    parser.add_argument("--pool", type=int, default=0, help="conv2d: a max-pool of this size after the conv")
    parser.add_argument("--dim", type=int, default=1, help="log_softmax's dim (default 1)")
    parser.add_argument("--eval", action="store_true", help="batch_norm: evaluation mode")
    parser.add_argument("--p", type=float, default=0.5, help="dropout probability (default 0.5)")
    parser.add_argument("--output-size", type=int, default=1, help="adaptive_avg_pool2d's output size (default 1)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the inputs and of R (default 0)")
    parser.add_argument("--entries", type=int, default=3, help="entries shown before the worst (default 3)")
    parser.add_argument("--rtol", type=float, default=RTOL, help=f"relative tolerance (default {RTOL})")
    parser.add_argument("--atol", type=float, default=ATOL, help=f"absolute tolerance (default {ATOL})")
    args = parser.parse_args(argv)
    if not args.list and args.op not in ops:
        parser.error(f"unknown op {args.op!r}; choose from {', '.join(ops)}" if args.op else "which op? e.g. conv2d")
    sizes_given = [name for name in ("batch", "channels", "height", "width", "out_channels", "kernel", "features",
                                     "out_features", "classes") if getattr(args, name) < 1]
    if sizes_given or (args.stride is not None and args.stride < 1) or args.padding < 0 or args.pool < 0:
        parser.error("sizes, --stride and --pool must be >= 1 (--pool 0: none) and --padding >= 0")
    return args


def main(argv=None, ops=OPS):
    """The command; returns its exit status. ``ops`` can be replaced (the tests check a wrong backward this way)."""
    args = parse_args(argv, ops)
    if args.list:
        for name, op in ops.items():
            print(f"{name:<15}{op.help}")
        return 0
    rng = np.random.default_rng(args.seed)
    try:
        fn, arrays, names, details = ops[args.op].make(args, rng)
        checks = gradient_check(fn, arrays, names, args.seed, args.rtol, args.atol)
    except (ValueError, TypeError) as error:  # the op refused these shapes: say so in one line
        print(f"gradcheck: error: {error}", file=sys.stderr)
        return 2
    shapes = ", ".join(f"{name} {np.shape(array)}" for name, array in zip(names, arrays))
    print(f"gradcheck {args.op}: {shapes}{'; ' + details if details else ''}; float64, seed {args.seed}")
    print(f"loss = sum(output * R) with R fixed random weights; numeric = central differences, eps {EPS:g}; "
          f"an entry passes when |analytic - numeric| <= {args.atol:g} + {args.rtol:g} * |numeric|\n")
    for check in checks:
        print(check.describe(args.entries) + "\n")
    failed = [check.name for check in checks if not check.ok]
    if failed:
        print(f"FAIL: the gradient of {', '.join(failed)} differs from finite differences")
        return 1
    print(f"ok: all {len(checks)} input(s) within tolerance")
    return 0


if __name__ == "__main__":
    sys.exit(main())
