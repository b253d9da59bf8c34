"""Evaluate a saved model on the 10,000 MNIST test images: accuracy, confusion matrix, per-class accuracy.

    python experiments/evaluate.py --checkpoint experiments/results/checkpoints/tiny8k-s0.npz
    python experiments/evaluate.py --checkpoint PATH --limit 500 --no-plots     # a smoke run

The checkpoint is one that the harness keeps (``<trial>.npz``: the model's
name, its weights, the kept epoch). The confusion matrix counts, for every
true digit (rows), what the model answered (columns); the diagonal holds the
correct answers. With matplotlib installed it is also drawn, to
``experiments/runs/<checkpoint>.confusion.png`` (or ``--png``).

Any other model whose class can be imported is named with ``--model``:

    python experiments/evaluate.py --checkpoint mynet.npz --model mypackage.models:MyNet
    python experiments/evaluate.py --checkpoint mynet.pt --model path/to/file.py:MyNet --model-args '{"width": 8}'

The checkpoint is then a ``tinycnn.save`` of the model's state_dict, of a
dict holding it under ``"model"`` (and, if the constructor takes arguments,
them as a dict under ``"model_args"``), or a PyTorch ``torch.save`` of a
state_dict (read without PyTorch). ``--model-args`` (a JSON object) gives
the constructor's keyword arguments where the checkpoint records none, or
replaces them. A checkpoint never chooses the code that runs: the class
comes from the command line only.
"""

import argparse
import importlib
import importlib.util
import json
import os
import sys
from pathlib import Path

import numpy as np

import tinycnn
from tinycnn import metrics
from tinycnn.data import BatchLoader, DataError, Normalize, load_mnist
from tinycnn.files import atomic_write
from tinycnn.torch_weights import is_torch_file, load_torch_state_dict
from tinycnn.train import evaluate

from harness import DEFAULT_DATA_DIR
from outputs import RUNS_DIR, OutputError, check_writable
from models import MODELS


class ModelError(ValueError):
    """A --model or --model-args that does not give a model."""


def load_model(path, model=None, model_args=None):
    """The model a checkpoint holds, in evaluation mode, and the checkpoint itself (with its ``model_name``).

    ``model`` is ``module:Class`` or ``file.py:Class`` (``--model``), and
    ``model_args`` a dict of the constructor's keyword arguments; without
    ``model`` the checkpoint must be a kept one naming a model of
    experiments/models.py.
    """
    path = Path(path)
    checkpoint = load_torch_state_dict(path) if is_torch_file(path) else tinycnn.load(path)
    if model is not None:
        return model_of_class(path, checkpoint, model, model_args)
    name = checkpoint.get("model_name") if isinstance(checkpoint, dict) else None
    if name not in MODELS:
        named = f"its model_name {name!r} is not one of them" if name else "it names none"
        hint = (f"; {path.name} is a run's resume checkpoint: evaluate its kept one, "
                f"{path.name.replace('.last.npz', '.npz')}" if path.name.endswith(".last.npz") else
                "; for a model of your own, name its class with --model module:Class")
        raise tinycnn.CheckpointError(f"{path}: not a kept model checkpoint (those name a model of "
                                      f"experiments/models.py; {named}){hint}")
    model = MODELS[name]()
    model.load_state_dict(checkpoint["model"])
    return model.eval(), checkpoint


def model_of_class(path, checkpoint, spec, model_args):
    """``load_model`` with ``--model``: the class imported, made with its arguments, given the checkpoint's weights."""
    make = import_class(spec)
    if not isinstance(checkpoint, dict):
        raise ModelError(f"{path}: holds a {type(checkpoint).__name__}, not a state_dict or a dict holding one")
    holds_state = isinstance(checkpoint.get("model"), dict)
    state = checkpoint["model"] if holds_state else checkpoint  # a bare state_dict is the checkpoint itself
    recorded = checkpoint.get("model_args") if holds_state else None
    arguments = model_args if model_args is not None else recorded or {}
    if not isinstance(arguments, dict):
        raise ModelError(f"{path}: its model_args must be a dict of keyword arguments, got {arguments!r}")
    try:
        model = make(**arguments)
    except TypeError as error:
        given = ("--model-args gave " + json.dumps(arguments) if model_args is not None else
                 f"the checkpoint's model_args gave {json.dumps(arguments)}" if recorded else
                 "the checkpoint records no model_args")
        raise ModelError(f"--model {spec}: cannot make the model ({error}); {given}. Pass the constructor's "
                         f"keyword arguments as JSON, e.g. --model-args '{{\"width\": 8}}'") from None
    if not isinstance(model, tinycnn.nn.Module):
        raise ModelError(f"--model {spec}: gave a {type(model).__name__}, not a tinycnn.nn.Module")
    model.load_state_dict(state)
    name = checkpoint.get("model_name") if holds_state else None
    return model.eval(), {**checkpoint, "model_name": name or spec.rpartition(":")[2]}


def import_class(spec):
    """The class (or any function that returns a model) that ``module:Class`` or ``path/to/file.py:Class`` names.

    A module is looked for from the current folder too, as ``python -m`` does;
    a file runs as a module of its own, its folder searchable for what it imports.
    """
    where, _, name = spec.rpartition(":")
    if not where or not name:
        raise ModelError(f"--model {spec}: give module:Class or path/to/file.py:Class")
    if where.endswith(".py") or os.sep in where or "/" in where:
        file = Path(where)
        if not file.is_file():
            raise ModelError(f"--model {spec}: no file {file}")
        module_name = f"evaluated_{file.stem}"
        loader = importlib.util.spec_from_file_location(module_name, file)
        module = importlib.util.module_from_spec(loader)
        sys.path.insert(0, str(file.resolve().parent))
        sys.modules[module_name] = module  # a dataclass or a pickle inside the file looks itself up there
        loader.loader.exec_module(module)
    else:
        if os.getcwd() not in sys.path:
            sys.path.insert(0, os.getcwd())
        try:
            module = importlib.import_module(where)
        except ModuleNotFoundError as error:
            if error.name is None or not f"{where}.".startswith(f"{error.name}."):
                raise  # something the module itself imports is missing: its own traceback says what
            raise ModelError(f"--model {spec}: no module {error.name} (looked for from {os.getcwd()} and "
                             "sys.path; a file is named by its path, path/to/file.py:Class)") from None
    found = module
    for part in name.split("."):
        if not hasattr(found, part):
            raise ModelError(f"--model {spec}: {where} has no {name}")
        found = getattr(found, part)
    return found


def format_confusion(matrix):
    """The confusion matrix (rows = true digit) as a table, each row followed by that digit's accuracy."""
    lines = ["true \\ said " + "".join(f"{c:>6}" for c in range(len(matrix))) + "   accuracy"]
    for digit, (row, accuracy) in enumerate(zip(matrix, metrics.accuracy_of_each_row(matrix))):
        shown = "    no images" if np.isnan(accuracy) else f"{100.0 * accuracy:6.2f} %"
        lines.append(f"{digit:>12} " + "".join(f"{count:>6}" for count in row) + f"   {shown}")
    return "\n".join(lines)


def hardest_and_most_confused(matrix):
    """One line: the digit with the lowest accuracy among those with images, and the most frequent mistake."""
    accuracy = np.nan_to_num(metrics.accuracy_of_each_row(matrix), nan=np.inf)  # a digit without images is not hard
    mistakes = matrix - np.diag(np.diag(matrix))
    if not mistakes.any():
        return "no mistakes"
    true, said = np.unravel_index(np.argmax(mistakes), matrix.shape)
    return f"hardest digit: {int(np.argmin(accuracy))}; most frequent mistake: {true} read as {said}"


def draw_confusion(matrix, title, path):
    """The matrix as a PNG (log-scaled colours so that the few mistakes show); False without matplotlib."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    figure, axes = plt.subplots(figsize=(7, 6), dpi=90, layout="constrained")
    image = axes.imshow(np.log1p(matrix), cmap="Blues")
    for (row, column), count in np.ndenumerate(matrix):
        if count:
            axes.text(column, row, str(count), ha="center", va="center", fontsize=8,
                      color="white" if row == column else "black")
    axes.set(xlabel="the model said", ylabel="true digit", title=title, xticks=range(10), yticks=range(10))
    figure.colorbar(image, ax=axes, label="log(1 + count)")
    with atomic_write(path, "wb") as stream:
        figure.savefig(stream, format="png")
    plt.close(figure)
    return True


def json_object(text):
    """--model-args: a JSON object, as a dict."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        raise argparse.ArgumentTypeError(f"not JSON ({error}): {text}") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(f"a JSON object of keyword arguments, {{\"name\": value}}, not {text}")
    return value


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", type=Path, required=True, help="a kept checkpoint, e.g. "
                                                                        "experiments/results/checkpoints/tiny8k-s0.npz")
    parser.add_argument("--model", help="the model's class, module:Class or path/to/file.py:Class, for a checkpoint "
                                         "that is not a kept one of experiments/models.py")
    parser.add_argument("--model-args", type=json_object, help="the class's keyword arguments as a JSON object, e.g. "
                                                               "'{\"width\": 8}', if the checkpoint records none")
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR)
    parser.add_argument("--limit", type=int, help="the first N test images only")
    parser.add_argument("--png", type=Path, help="where to draw the confusion matrix (default: "
                                                 "experiments/runs/<checkpoint>.confusion.png, which git ignores)")
    parser.add_argument("--no-plots", action="store_true", help="no picture")
    parser.add_argument("--kernels", choices=tinycnn.backend.MODES, default=tinycnn.backend.mode(),
                        help="the kernels every op runs: fast (the default) or reference (the naive twins); the same "
                             "as TINYCNN_KERNELS")
    args = parser.parse_args(argv)
    with tinycnn.backend.use(args.kernels):  # the caller's kernel set back afterwards
        return evaluate_checkpoint(args)


def evaluate_checkpoint(args):
    """``main``'s work: the checkpoint's model on the test images, its confusion matrix printed and drawn."""
    png = None if args.no_plots else args.png or RUNS_DIR / args.checkpoint.with_suffix(".confusion.png").name
    try:
        if png is not None:
            check_writable({Path(png).parent: "--png"})
        if args.model_args is not None and args.model is None:
            raise ModelError("--model-args needs --model, the class they are for")
        model, checkpoint = load_model(args.checkpoint, args.model, args.model_args)
        data = load_mnist(args.data_dir)
    except (tinycnn.CheckpointError, DataError, KeyError, ValueError, OutputError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    images, labels = data["test_images"][: args.limit], data["test_labels"][: args.limit]
    try:
        accuracy, correct, total, predictions = evaluate(model, BatchLoader(images, labels, 1000, Normalize()),
                                                         progress=False, return_predictions=True)
        matrix = metrics.confusion_matrix(predictions, labels, num_classes=10)
    except (ValueError, TypeError) as error:  # a model of the user's that does not take MNIST, or not 10 classes
        print(f"error: {args.checkpoint}: the model does not classify MNIST's (N, 1, 28, 28) images into 10 "
              f"digits: {error}", file=sys.stderr)
        return 2
    print(f"{args.checkpoint}: {checkpoint['model_name']}, {model.num_parameters():,} parameters, epoch "
          f"{checkpoint.get('epoch')}")
    print(f"held-out test accuracy {accuracy:.2f} % ({correct:,} / {total:,})\n")
    print(format_confusion(matrix))
    print("\n" + hardest_and_most_confused(matrix))
    if png is not None:
        try:
            if draw_confusion(matrix, f"{checkpoint['model_name']}: {accuracy:.2f} % of {total:,} test images", png):
                print(f"confusion matrix drawn to {png}")
        except OSError as error:  # the figures are printed above
            print(f"error: cannot write {error.filename or png}: {error.strerror or error}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
