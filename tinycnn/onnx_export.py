"""A tinycnn model as an ONNX file, to open in Netron or run in onnxruntime: ``export(model, example_input, path)``.

    from tinycnn.onnx_export import export
    export(model, Tensor(np.zeros((1, 1, 28, 28), np.float32)), "model.onnx")

It needs the ``onnx`` package (``pip install "tinycnn[onnx]"``); tinycnn
itself does not.

How the graph is found: by running the model's forward once on the example
input and recording every op it applies. Every differentiable op of tinycnn,
a layer's or an ``F.*`` call or a Tensor method, runs through one place,
``Function.apply`` (tinycnn/tensor.py); for the length of the forward that
classmethod is wrapped by one that notes the Function, its input tensors,
its options (stride, padding, ...) and its output. So a model whose forward
calls ``F.max_pool2d(F.relu(self.conv1(x)), 2)`` is recorded as well as an
``nn.Sequential`` of layers. Each record becomes an ONNX node, in the order
it ran; a tensor is known by identity: the example input, an op's output, a
parameter (stored under its state_dict name, conv1.weight), a BatchNorm
buffer (bn.running_mean), or else a constant.

The forward runs in eval mode (as ``torch.onnx.export`` does; each module
gets its own mode back afterwards), under ``no_grad``, with fusion off so
that every op applies its own Function. Dropout is then the identity and
applies nothing; BatchNorm uses its running statistics.

What this cannot see: a value computed outside tinycnn's ops (NumPy on
``.data``, a Python ``if`` on a tensor's values) is baked into the graph as
a constant, or as the branch the example input took, as in
``torch.jit.trace``. The batch size is left free (``N``) wherever a reshape
keeps the batch axis. The graph keeps the model's dtype; onnxruntime's
CPU convolution takes float32 only, so export a float32 model to run there.

Recorded ops: conv2d, linear, relu, max_pool2d, avg_pool2d,
adaptive_avg_pool2d (to 1, or to a size that divides the input), batch_norm
in eval, log_softmax, softmax, reshape/flatten/view, permute, + - * / with
tensors or numbers, matmul, exp, log, pow, sum and mean, clone, float/double.
Any other op is refused with its name.
"""

import contextlib
import dataclasses

import numpy as np

from tinycnn import fusion
from tinycnn.files import atomic_write
from tinycnn.tensor import Function, Tensor, no_grad

OPSET = 17  # onnxruntime 1.14 and later run it; Netron opens it


class ExportError(ValueError):
    """A model or an op that cannot be written as ONNX."""


@dataclasses.dataclass
class Call:
    """One application of a Function during the traced forward."""

    function: type
    inputs: tuple  # Tensors (or None for an absent bias)
    options: dict
    output: Tensor


@contextlib.contextmanager
def recording(calls):
    """Inside the block, every ``Function.apply`` is appended to ``calls`` as a ``Call`` (then runs as usual)."""
    original = Function.__dict__["apply"]

    def apply(cls, *inputs, **options):
        output = original.__func__(cls, *inputs, **options)
        calls.append(Call(cls, inputs, options, output))
        return output

    Function.apply = classmethod(apply)
    try:
        yield calls
    finally:
        Function.apply = original


def trace(model, example_input):
    """The ``Call``s of one forward of ``model`` on ``example_input``, in eval mode with fusion off, and the output.

    Modes are restored afterwards (each module its own).
    """
    modules = [module for _, module in model.named_modules()]
    modes = [module.training for module in modules]
    calls = []
    try:
        model.eval()
        with no_grad(), fusion.set_enabled(False), recording(calls):
            output = model(example_input)
    finally:
        for module, mode in zip(modules, modes):
            module.training = mode
    return calls, output


class GraphBuilder:
    """Collects the nodes and initializers of an ONNX graph, naming tensors by identity."""

    def __init__(self, onnx, model, input_tensor, input_name, dynamic_batch):
        self.onnx, self.helper = onnx, onnx.helper
        self.nodes, self.initializers, self.names = [], [], {id(input_tensor): input_name}
        self.keep_alive = [input_tensor]  # ids stay unique only while their objects live
        self.known = {id(p): name for name, p in model.named_parameters()}
        self.known.update({id(array): name for name, array in model.named_buffers()})
        self.batch = input_tensor.shape[0] if dynamic_batch and input_tensor.ndim else None

    def name_of(self, value):
        """The graph name of a Tensor or ndarray, adding it as an initializer the first time it is a constant."""
        key = id(value)
        if key not in self.names:
            array = value.data if isinstance(value, Tensor) else np.asarray(value)
            name = self.known.get(key) or self.known.get(id(array)) or f"constant_{len(self.initializers)}"
            self.initializers.append(self.onnx.numpy_helper.from_array(np.ascontiguousarray(array), name))
            self.names[key] = name
            self.keep_alive.append(value)
        return self.names[key]

    def constant(self, array, hint):
        name = f"{hint}_{len(self.initializers)}"
        self.initializers.append(self.onnx.numpy_helper.from_array(np.ascontiguousarray(array), name))
        return name

    def node(self, op_type, inputs, output=None, **attributes):
        """Add one node; returns its output's name (a fresh one unless ``output`` is given)."""
        output = output or f"{op_type.lower()}_{len(self.nodes)}"
        self.nodes.append(self.helper.make_node(op_type, inputs, [output], name=f"{op_type}_{len(self.nodes)}",
                                                **attributes))
        return output

    def add(self, call):
        """The nodes of one recorded call; its output tensor gets the last node's output name."""
        emit = EMITTERS.get(call.function.__name__)
        if emit is None:
            supported = ", ".join(sorted(EMITTERS))
            raise ExportError(f"export: the model applies {call.function.__name__}, which has no ONNX translation "
                              f"here (supported: {supported})")
        self.names[id(call.output)] = emit(self, call)
        self.keep_alive.append(call.output)


def _inputs(builder, call):
    return [builder.name_of(value) for value in call.inputs]


def _pool_then(builder, name, kernel, stride, op="MaxPool"):
    return builder.node(op, [name], kernel_shape=[kernel, kernel], strides=[stride, stride])


def _conv(builder, call):
    x, weight, bias = call.inputs
    options = call.options
    names = [builder.name_of(x), builder.name_of(weight)] + ([builder.name_of(bias)] if bias is not None else [])
    KH, KW = weight.shape[2:]
    stride, padding = options["stride"], options["padding"]
    name = builder.node("Conv", names, kernel_shape=[KH, KW], strides=[stride, stride], pads=[padding] * 4)
    if options.get("relu"):  # joined ops, when a trace runs with fusion on
        name = builder.node("Relu", [name])
    if options.get("pool_kernel"):
        name = _pool_then(builder, name, options["pool_kernel"], options["pool_stride"])
    return name


def _linear(builder, call):
    x, weight, bias = call.inputs
    names = [builder.name_of(x), builder.name_of(weight)] + ([builder.name_of(bias)] if bias is not None else [])
    return builder.node("Gemm", names, transB=1)


def _max_pool(builder, call):
    return _pool_then(builder, builder.name_of(call.inputs[0]), call.options["kernel_size"], call.options["stride"])


def _avg_pool(builder, call):
    return _pool_then(builder, builder.name_of(call.inputs[0]), call.options["kernel_size"], call.options["stride"],
                      op="AveragePool")


def _adaptive_avg_pool(builder, call):
    (x,) = call.inputs
    (H, W), (OH, OW) = x.shape[2:], call.options["output_size"]
    if (OH, OW) == (1, 1):
        return builder.node("GlobalAveragePool", [builder.name_of(x)])
    if H % OH or W % OW:
        raise ExportError(f"export: adaptive_avg_pool2d from {H}x{W} to {OH}x{OW} has bins of unequal sizes, which "
                          "no ONNX op computes; pool to a size that divides the input, or to 1")
    return builder.node("AveragePool", [builder.name_of(x)], kernel_shape=[H // OH, W // OW],
                        strides=[H // OH, W // OW])


def _batch_norm(builder, call):
    x, weight, bias = call.inputs
    options = call.options
    if options["training"]:
        raise ExportError("export: a batch_norm normalises with the batch's own statistics even in eval mode "
                          "(track_running_stats=False); ONNX's BatchNormalization needs running statistics")
    C = x.shape[1]
    scale = builder.name_of(weight) if weight is not None else builder.constant(np.ones(C, x.dtype), "bn_scale")
    shift = builder.name_of(bias) if bias is not None else builder.constant(np.zeros(C, x.dtype), "bn_bias")
    name = builder.node("BatchNormalization", [builder.name_of(x), scale, shift, builder.name_of(options["mean"]),
                                               builder.name_of(options["var"])], epsilon=float(options["eps"]))
    return builder.node("Relu", [name]) if options.get("relu") else name


def _reshape(builder, call):
    (x,) = call.inputs
    shape = list(call.output.shape)
    if builder.batch is not None and x.ndim and shape and shape[0] == x.shape[0]:
        shape[0] = 0  # ONNX's 0: this axis's size from the input, so the batch stays free
    return builder.node("Reshape", [builder.name_of(x), builder.constant(np.array(shape, np.int64), "shape")])


def _reduce(op_type):
    def emit(builder, call):
        (x,) = call.inputs
        dim = call.options.get("dim")
        axes = list(range(x.ndim)) if dim is None else [int(d) for d in np.atleast_1d(dim)]
        keepdims = int(bool(call.options.get("keepdim")))
        if op_type == "ReduceSum":  # axes became an input in opset 13; ReduceMean's only in 18
            return builder.node(op_type, [builder.name_of(x), builder.constant(np.array(axes, np.int64), "axes")],
                                keepdims=keepdims)
        return builder.node(op_type, [builder.name_of(x)], axes=axes, keepdims=keepdims)
    return emit


def _pow(builder, call):
    (x,) = call.inputs
    exponent = builder.constant(np.array(call.options["exponent"], dtype=x.dtype), "exponent")
    return builder.node("Pow", [builder.name_of(x), exponent])


def _cast(builder, call):
    to = builder.helper.np_dtype_to_tensor_dtype(np.dtype(call.options["dtype"]))
    return builder.node("Cast", [builder.name_of(call.inputs[0])], to=to)


def _plain(op_type, **attributes_from_options):
    """An op whose ONNX node takes the same inputs, and attributes named ``{onnx name: option name}``."""
    def emit(builder, call):
        attributes = {name: call.options[option] for name, option in attributes_from_options.items()}
        return builder.node(op_type, _inputs(builder, call), **attributes)
    return emit


EMITTERS = {  # Function class name -> the nodes it becomes
    "Conv2dFunction": _conv, "LinearFunction": _linear, "ReLUFunction": _plain("Relu"),
    "MaxPool2dFunction": _max_pool, "AvgPool2dFunction": _avg_pool, "AdaptiveAvgPool2dFunction": _adaptive_avg_pool,
    "BatchNormFunction": _batch_norm, "LogSoftmaxFunction": _plain("LogSoftmax", axis="dim"),
    "Reshape": _reshape, "Permute": _plain("Transpose", perm="dims"), "Add": _plain("Add"), "Sub": _plain("Sub"),
    "Mul": _plain("Mul"), "Div": _plain("Div"), "MatMul": _plain("MatMul"), "Exp": _plain("Exp"),
    "Log": _plain("Log"), "Pow": _pow, "Sum": _reduce("ReduceSum"), "Mean": _reduce("ReduceMean"),
    "Clone": _plain("Identity"), "Cast": _cast,
}


def _import_onnx():
    try:
        import onnx
    except ImportError:
        raise ImportError("tinycnn.onnx_export needs the onnx package: pip install 'tinycnn[onnx]' (or pip install "
                          "onnx)") from None
    return onnx


def to_onnx(model, example_input, input_name="input", output_name="output", dynamic_batch=True):
    """The ``onnx.ModelProto`` of ``model`` traced on ``example_input`` (see the module's docstring).

    Shape: example_input (N, ...) as the model takes it; the graph's input
    and output have the traced shapes, with the batch axis named ``N`` when
    ``dynamic_batch``.
    """
    onnx = _import_onnx()
    example = example_input if isinstance(example_input, Tensor) else Tensor(np.asarray(example_input))
    calls, output = trace(model, example)
    if not isinstance(output, Tensor):
        raise ExportError(f"export: the model returned a {type(output).__name__}; one Tensor is exported")
    builder = GraphBuilder(onnx, model, example, input_name, dynamic_batch)
    for call in calls:
        builder.add(call)
    if id(output) not in builder.names:
        raise ExportError("export: the model's output was not made by tinycnn ops from its input, so there is no "
                          "graph to record (was it computed with NumPy on .data?)")
    builder.node("Identity", [builder.names[id(output)]], output=output_name)

    def value_info(name, tensor):
        dims = ["N" if dynamic_batch and axis == 0 else size for axis, size in enumerate(tensor.shape)]
        return onnx.helper.make_tensor_value_info(name, onnx.helper.np_dtype_to_tensor_dtype(tensor.dtype), dims)

    graph = onnx.helper.make_graph(builder.nodes, type(model).__name__, [value_info(input_name, example)],
                                   [value_info(output_name, output)], initializer=builder.initializers)
    proto = onnx.helper.make_model(graph, producer_name="tinycnn", opset_imports=[onnx.helper.make_opsetid("", OPSET)])
    proto.ir_version = min(proto.ir_version, 8)  # IR 8 goes with opset 17; older onnxruntimes refuse newer IRs
    onnx.checker.check_model(proto)
    return proto


def export(model, example_input, path, **options):
    """Write ``model`` traced on ``example_input`` to ``path`` as ONNX, atomically; returns the ModelProto.

    ``options`` are ``to_onnx``'s (input_name, output_name, dynamic_batch).
    """
    proto = to_onnx(model, example_input, **options)
    with atomic_write(path, "wb") as stream:
        stream.write(proto.SerializeToString())
    return proto
