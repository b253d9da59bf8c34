"""Classification metrics: accuracy, the confusion matrix, per-class accuracy.

    from tinycnn import metrics
    metrics.accuracy(model(x), y)                          # 0.975: a fraction, not a percentage
    metrics.confusion_matrix(predictions, y, num_classes=10)
    metrics.per_class_accuracy(predictions, y, num_classes=10)

Each takes the model's answer first and the true classes second, as
torchmetrics does, as Tensors, NumPy arrays or lists. The answer is either
scores, (N, K) floats such as logits or log-probabilities, whose argmax along
dim 1 is the prediction, or predictions, (N,) integer class indices. A row
of scores holding a NaN predicts the first NaN's class, as ``argmax`` does in
NumPy and PyTorch: a diverged network scores the share of that class.

The confusion matrix's rows are the true classes and its columns the
predicted ones, as in scikit-learn: ``matrix[t, p]`` counts the samples of
class t that were predicted as p, and the diagonal holds the correct ones.
"""

import numpy as np

from tinycnn.tensor import Tensor


def _array(op, name, value):
    """``value`` (a Tensor, an ndarray or a list) as an ndarray."""
    array = value.data if isinstance(value, Tensor) else np.asarray(value)
    if array.dtype.hasobject:
        raise TypeError(f"{op}: {name} must hold numbers, got an array of Python objects")
    return array


def _is_int(array):
    return array.dtype.kind in "iu"


def _targets(op, targets):
    """``targets`` as an (N,) integer array."""
    array = _array(op, "targets", targets)
    if array.ndim != 1 or not _is_int(array):
        raise TypeError(f"{op}: targets must be integer class indices of shape (N,), got dtype {array.dtype} and "
                        f"shape {array.shape}")
    return array


def _predictions(op, output, targets, num_classes=None):
    """The predicted classes, (N,) ints: ``output`` itself if it holds (N,) ints, its argmax along dim 1 if it
    holds (N, K) scores. Checked against ``targets`` (N,) and, if given, ``num_classes`` (K)."""
    array = _array(op, "predictions", output)
    if array.ndim == 2 and array.dtype.kind == "f":
        if num_classes is not None and array.shape[1] != num_classes:
            raise ValueError(f"{op}: scores of shape {array.shape} have {array.shape[1]} classes, but "
                             f"num_classes is {num_classes}")
        predictions = np.argmax(array, axis=1) if array.shape[0] else np.zeros(0, np.int64)
    elif array.ndim == 1 and _is_int(array):
        predictions = array
    else:
        raise TypeError(f"{op}: predictions must be (N, K) float scores or (N,) integer class indices, got dtype "
                        f"{array.dtype} and shape {array.shape}; for a batch of logits pass them whole, or their "
                        f"argmax(dim=1)")
    if len(predictions) != len(targets):
        raise ValueError(f"{op}: {len(predictions)} predictions but {len(targets)} targets; they must be as many")
    return predictions


def _check_classes(op, num_classes, **named):
    """Every array in ``named`` (name: (N,) ints) lies in [0, num_classes)."""
    if isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer)) or num_classes < 1:
        raise ValueError(f"{op}: num_classes must be an int >= 1, got {num_classes!r}")
    for name, array in named.items():
        if len(array) and (array.min() < 0 or array.max() >= num_classes):
            raise ValueError(f"{op}: {name} must lie in [0, {num_classes}) for num_classes={num_classes}, got min "
                             f"{array.min()} and max {array.max()}")


def accuracy(output, targets):
    """The fraction of samples whose predicted class is the target, a float in [0, 1].

    Shape:
        output:  (N, K) float scores, or (N,) integer predictions
        targets: (N,) integer class indices
    An empty batch (N = 0) has no accuracy: that is an error, not 0 or NaN.
    """
    op = "accuracy"
    targets = _targets(op, targets)
    predictions = _predictions(op, output, targets)
    if len(targets) == 0:
        raise ValueError(f"{op}: no samples (N = 0), so no accuracy")
    return int(np.count_nonzero(predictions == targets)) / len(targets)


def confusion_matrix(output, targets, num_classes):
    """(num_classes, num_classes) int64 counts: row = true class, column = predicted class (as scikit-learn).

    Shape:
        output:  (N, K) float scores, K = num_classes, or (N,) integer predictions in [0, num_classes)
        targets: (N,) integer class indices in [0, num_classes)
        result:  (num_classes, num_classes); ``result.sum() == N``, ``trace(result)`` is the number correct
    """
    op = "confusion_matrix"
    targets = _targets(op, targets)
    predictions = _predictions(op, output, targets, num_classes)
    _check_classes(op, num_classes, predictions=predictions, targets=targets)
    matrix = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(matrix, (targets, predictions), 1)
    return matrix


def per_class_accuracy(output, targets, num_classes):
    """For each true class, the fraction of its samples predicted as it (its recall): a (num_classes,) float64
    array, NaN for a class without samples.

    Shape: as ``confusion_matrix``; result (num_classes,).
    """
    matrix = confusion_matrix(output, targets, num_classes)
    return accuracy_of_each_row(matrix)


def accuracy_of_each_row(matrix):
    """The diagonal of a confusion matrix (K, K) over its row sums: (K,) float64, NaN for an empty row."""
    counts = matrix.sum(axis=1)
    return np.divide(np.diag(matrix), counts, out=np.full(len(matrix), np.nan), where=counts > 0)
