"""tinycnn.metrics against their definitions written as loops, on scores and on predictions, Tensors and arrays; and
the errors for mismatched shapes and dtypes."""

import numpy as np
import pytest
from hypothesis import given, strategies as st

import tinycnn
from tinycnn import Tensor, metrics


@st.composite
def scores_and_targets(draw):
    """(N, K) float scores with ties and NaN rows now and then, and (N,) targets in [0, K)."""
    n, k = draw(st.integers(1, 40)), draw(st.integers(1, 6))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    scores = rng.integers(-2, 3, (n, k)).astype(draw(st.sampled_from([np.float32, np.float64])))  # small ints tie
    scores[rng.random(n) < 0.1, rng.integers(0, k)] = np.nan
    return scores, rng.integers(0, k, n), k


def loop_predictions(scores):
    """The class of each row: the first NaN if there is one, else the first largest value."""
    predictions = []
    for row in scores:
        nan = [i for i, value in enumerate(row) if np.isnan(value)]
        predictions.append(nan[0] if nan else max(range(len(row)), key=lambda i: (row[i], -i)))
    return np.array(predictions)


@given(scores_and_targets())
def test_the_metrics_match_their_definitions(case):
    scores, targets, k = case
    predictions = loop_predictions(scores)
    matrix = np.zeros((k, k), dtype=np.int64)
    for true, said in zip(targets, predictions):
        matrix[true, said] += 1  # row = true class, column = predicted
    for output in (scores, Tensor(scores), predictions, Tensor(predictions), predictions.tolist()):
        assert metrics.accuracy(output, targets) == sum(predictions == targets) / len(targets)
        assert np.array_equal(metrics.confusion_matrix(output, Tensor(targets), k), matrix)
        per_class = metrics.per_class_accuracy(output, targets, num_classes=k)
        for c in range(k):
            if (targets == c).any():
                assert per_class[c] == np.mean(predictions[targets == c] == c)
            else:
                assert np.isnan(per_class[c])


def test_rows_are_true_classes_as_in_scikit_learn():
    # two samples of class 0, one predicted as 1: sklearn.metrics.confusion_matrix([0, 0, 2], [0, 1, 2])
    assert metrics.confusion_matrix(np.array([0, 1, 2]), np.array([0, 0, 2]), 3).tolist() == \
        [[1, 1, 0], [0, 0, 0], [0, 0, 1]]
    assert metrics.per_class_accuracy(np.array([0, 1, 2]), np.array([0, 0, 2]), 3).tolist()[::2] == [0.5, 1.0]
    assert tinycnn.metrics.accuracy(Tensor([[0.1, 0.9], [2.0, -1.0]]), [1, 1]) == 0.5


@pytest.mark.parametrize("call, message", [
    (lambda: metrics.accuracy(np.zeros((3, 2)), np.zeros(2, int)),
     "accuracy: 3 predictions but 2 targets; they must be as many"),
    (lambda: metrics.accuracy(np.zeros(3), np.zeros(3, int)),
     r"accuracy: predictions must be \(N, K\) float scores or \(N,\) integer class indices, got dtype float64 and "
     r"shape \(3,\)"),
    (lambda: metrics.accuracy(np.zeros((3, 2, 1)), np.zeros(3, int)), r"got dtype float64 and shape \(3, 2, 1\)"),
    (lambda: metrics.accuracy(np.zeros((3, 2)), np.zeros(3)),
     r"accuracy: targets must be integer class indices of shape \(N,\), got dtype float64"),
    (lambda: metrics.accuracy(np.zeros((3, 2)), np.zeros((3, 1), int)), r"got dtype int64 and shape \(3, 1\)"),
    (lambda: metrics.accuracy(np.zeros((0, 2)), np.zeros(0, int)), r"accuracy: no samples \(N = 0\)"),
    (lambda: metrics.confusion_matrix(np.zeros((3, 4)), np.zeros(3, int), 3),
     r"confusion_matrix: scores of shape \(3, 4\) have 4 classes, but num_classes is 3"),
    (lambda: metrics.confusion_matrix(np.array([0, 5]), np.array([0, 1]), 3),
     r"confusion_matrix: predictions must lie in \[0, 3\) for num_classes=3, got min 0 and max 5"),
    (lambda: metrics.confusion_matrix(np.array([0, 1]), np.array([-1, 1]), 3), r"targets must lie in \[0, 3\)"),
    (lambda: metrics.per_class_accuracy(np.array([0]), np.array([0]), 0),
     r"per_class_accuracy|confusion_matrix: num_classes must be an int >= 1, got 0"),
    (lambda: metrics.accuracy(np.array([None, 1]), np.array([0, 1])), "predictions must hold numbers"),
])
def test_mismatches_are_refused_with_what_was_given(call, message):
    with pytest.raises((ValueError, TypeError), match=message):
        call()


def test_an_empty_batch_has_an_empty_confusion_matrix_and_no_per_class_accuracy():
    assert metrics.confusion_matrix(np.zeros((0, 3), np.float32), np.zeros(0, int), 3).sum() == 0
    assert np.isnan(metrics.per_class_accuracy(np.zeros(0, int), np.zeros(0, int), 3)).all()
