"""Evaluate a saved model on the 10,000 MNIST test images: accuracy, confusion matrix, per-class accuracy.

    python experiments/evaluate.py --checkpoint experiments/results/checkpoints/tiny8k-s0.npz
    python experiments/evaluate.py --checkpoint PATH --limit 500 --no-plots     # a smoke run

The checkpoint is one that the harness keeps (``<trial>.npz``: the model's
name, its weights, the kept epoch). The confusion matrix counts, for every
true digit (rows), what the model answered (columns); the diagonal holds the
correct answers. With matplotlib installed it is also drawn, to
``experiments/runs/<checkpoint>.confusion.png`` (or ``--png``).
"""

import argparse
import sys
from pathlib import Path

import numpy as np

import tinycnn
from tinycnn import metrics
from tinycnn.data import BatchLoader, DataError, Normalize, load_mnist
from tinycnn.files import atomic_write
from tinycnn.train import evaluate

from harness import DEFAULT_DATA_DIR
from outputs import RUNS_DIR, OutputError, check_writable
from models import MODELS


def load_model(path):
    """The model a kept checkpoint holds, in evaluation mode, and the checkpoint itself."""
    path = Path(path)
    checkpoint = tinycnn.load(path)
    name = checkpoint.get("model_name") if isinstance(checkpoint, dict) else None
    if name not in MODELS:
        named = f"its model_name {name!r} is not one of them" if name else "it names none"
        hint = (f"; {path.name} is a run's resume checkpoint: evaluate its kept one, "
                f"{path.name.replace('.last.npz', '.npz')}" if path.name.endswith(".last.npz") else "")
        raise tinycnn.CheckpointError(f"{path}: not a kept model checkpoint (those name a model of "
                                      f"experiments/models.py; {named}){hint}")
    model = MODELS[name]()
    model.load_state_dict(checkpoint["model"])
    return model.eval(), checkpoint


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


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", type=Path, required=True, help="a kept checkpoint, e.g. "
                                                                        "experiments/results/checkpoints/tiny8k-s0.npz")
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
        model, checkpoint = load_model(args.checkpoint)
        data = load_mnist(args.data_dir)
    except (tinycnn.CheckpointError, DataError, KeyError, ValueError, OutputError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    images, labels = data["test_images"][: args.limit], data["test_labels"][: args.limit]
    accuracy, correct, total, predictions = evaluate(model, BatchLoader(images, labels, 1000, Normalize()),
                                                     progress=False, return_predictions=True)
    matrix = metrics.confusion_matrix(predictions, labels, num_classes=10)
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
