"""Tests for nnscratch.metrics: hand-computed examples and agreement with scikit-learn."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn import metrics as skm

from nnscratch import metrics

# Seven samples, five classes: class 3 is never predicted, class 4 never occurs at all.
Y_TRUE = np.array([0, 0, 1, 1, 2, 2, 3])
Y_PRED = np.array([0, 1, 1, 1, 0, 2, 0])


@pytest.fixture(autouse=True)
def strict_floats():
    """Every metric must run without a warning or a floating-point error."""
    with np.errstate(all="raise"), warnings.catch_warnings():
        warnings.simplefilter("error")
        yield


def random_labels(seed: int, n: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    present = rng.choice(k, size=max(1, k - 2), replace=False)  # leave classes out
    return rng.choice(present, size=n), rng.integers(0, k, size=n)


def random_proba(seed: int, n: int, k: int, dtype=np.float64) -> np.ndarray:
    rng = np.random.default_rng(seed)
    z = rng.normal(scale=3.0, size=(n, k))
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return (e / e.sum(axis=1, keepdims=True)).astype(dtype)


def test_accuracy_by_hand():
    assert metrics.accuracy(Y_TRUE, Y_PRED) == pytest.approx(4 / 7)
    assert metrics.accuracy([3], [3]) == 1.0


def test_confusion_matrix_by_hand():
    expected = np.array(
        [
            [1, 1, 0, 0, 0],
            [0, 2, 0, 0, 0],
            [1, 0, 1, 0, 0],
            [1, 0, 0, 0, 0],
            [0, 0, 0, 0, 0],
        ]
    )
    cm = metrics.confusion_matrix(Y_TRUE, Y_PRED, num_classes=5)
    np.testing.assert_array_equal(cm, expected)
    assert cm.dtype == np.int64
    np.testing.assert_array_equal(metrics.confusion_matrix(Y_TRUE, Y_PRED), expected[:4, :4])


def test_precision_recall_f1_per_class_by_hand():
    p, r, f = metrics.precision_recall_f1(Y_TRUE, Y_PRED, num_classes=5)
    np.testing.assert_allclose(p, [1 / 3, 2 / 3, 1, 0, 0])
    np.testing.assert_allclose(r, [1 / 2, 1, 1 / 2, 0, 0])
    np.testing.assert_allclose(f, [2 / 5, 4 / 5, 2 / 3, 0, 0])


@pytest.mark.parametrize(
    ("average", "expected"),
    [
        ("macro", (2 / 5, 2 / 5, (2 / 5 + 4 / 5 + 2 / 3) / 5)),
        ("weighted", (4 / 7, 4 / 7, 8 / 15)),
        ("micro", (4 / 7, 4 / 7, 4 / 7)),
    ],
)
def test_precision_recall_f1_averages_by_hand(average, expected):
    got = metrics.precision_recall_f1(Y_TRUE, Y_PRED, average=average, num_classes=5)
    assert all(isinstance(v, float) for v in got)
    np.testing.assert_allclose(got, expected)


def test_specificity_by_hand():
    np.testing.assert_allclose(
        metrics.specificity(Y_TRUE, Y_PRED, num_classes=5), [3 / 5, 4 / 5, 1, 1, 1]
    )
    # A class every sample belongs to has no negatives: 0, without a division error.
    np.testing.assert_array_equal(metrics.specificity([1, 1], [1, 0]), [0.5, 0.0])


def test_all_zero_scores_when_nothing_is_right():
    p, r, f = metrics.precision_recall_f1([0, 0], [1, 1], num_classes=3)
    for v in (p, r, f):
        np.testing.assert_array_equal(v, 0.0)


@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize("average", [None, "macro", "micro", "weighted"])
def test_precision_recall_f1_agree_with_sklearn(seed, average):
    k = 2 + seed % 9
    y_true, y_pred = random_labels(seed, n=5 + 7 * seed, k=k)
    got = metrics.precision_recall_f1(y_true, y_pred, average=average, num_classes=k)
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        want = skm.precision_recall_fscore_support(
            y_true, y_pred, labels=np.arange(k), average=average, zero_division=0
        )[:3]
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("seed", range(6))
def test_confusion_matrix_and_accuracy_agree_with_sklearn(seed):
    y_true, y_pred = random_labels(seed, n=50, k=6)
    np.testing.assert_array_equal(
        metrics.confusion_matrix(y_true, y_pred, num_classes=6),
        skm.confusion_matrix(y_true, y_pred, labels=np.arange(6)),
    )
    assert metrics.accuracy(y_true, y_pred) == pytest.approx(skm.accuracy_score(y_true, y_pred))


@pytest.mark.parametrize("seed", range(6))
def test_specificity_is_recall_of_the_negative_class(seed):
    y_true, y_pred = random_labels(seed, n=40, k=5)
    spec = metrics.specificity(y_true, y_pred, num_classes=5)
    for c in range(5):
        want = skm.recall_score(y_true != c, y_pred != c, zero_division=0)
        assert spec[c] == pytest.approx(want)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("seed", range(5))
def test_log_loss_agrees_with_sklearn(seed, dtype):
    k = 3 + seed
    proba = random_proba(seed, n=30, k=k, dtype=dtype)
    y = np.random.default_rng(seed + 100).integers(0, k, size=30)
    want = skm.log_loss(y, proba, labels=np.arange(k))
    rtol = 1e-5 if dtype == np.float32 else 1e-12
    assert metrics.log_loss(y, proba) == pytest.approx(want, rel=rtol)


def test_log_loss_by_hand_and_at_zero_probability():
    proba = np.array([[0.5, 0.5, 0.0], [0.1, 0.0, 0.9]])
    assert metrics.log_loss([0, 2], proba) == pytest.approx(-(np.log(0.5) + np.log(0.9)) / 2)
    # The true class has probability 0: the loss is infinite, said plainly (no clipping).
    assert metrics.log_loss([0, 1], proba) == float("inf")


def test_log_loss_refuses_bad_probabilities():
    with pytest.raises(ValueError, match="sum to 1"):
        metrics.log_loss([0], [[0.5, 0.6]])
    with pytest.raises(ValueError, match="non-negative"):
        metrics.log_loss([0], [[1.5, -0.5]])
    with pytest.raises(ValueError, match="finite"):
        metrics.log_loss([0], [[np.nan, 1.0]])
    with pytest.raises(ValueError, match="2 dimension"):
        metrics.log_loss([0], [0.5, 0.5])
    with pytest.raises(ValueError, match="floating"):
        metrics.log_loss([0], [[1, 0]])
    with pytest.raises(ValueError, match="outside the range"):
        metrics.log_loss([2], [[0.5, 0.5]])
    with pytest.raises(ValueError, match="2 labels"):
        metrics.log_loss([0], [[0.5, 0.5], [0.5, 0.5]])


@pytest.mark.parametrize("seed", range(4))
def test_classification_report_matches_sklearn_layout(seed):
    k = 4 + seed
    y_true, y_pred = random_labels(seed, n=60, k=k)
    names = [f"class {i}" for i in range(k)] if seed % 2 else None
    got = metrics.classification_report(y_true, y_pred, target_names=names, num_classes=k)
    want = skm.classification_report(
        y_true, y_pred, labels=np.arange(k), target_names=names, digits=3, zero_division=0
    )
    assert got == want


def test_classification_report_by_hand():
    report = metrics.classification_report(
        Y_TRUE, Y_PRED, target_names=["zero", "one", "two", "three", "four"], digits=2
    )
    lines = report.splitlines()
    assert lines[0].split() == ["precision", "recall", "f1-score", "support"]
    assert lines[2].split() == ["zero", "0.33", "0.50", "0.40", "2"]
    assert lines[6].split() == ["four", "0.00", "0.00", "0.00", "0"]
    assert lines[8].split() == ["accuracy", "0.57", "7"]
    assert lines[9].split() == ["macro", "avg", "0.40", "0.40", "0.37", "7"]
    assert lines[10].split() == ["weighted", "avg", "0.57", "0.57", "0.53", "7"]


def test_classification_report_checks_names():
    with pytest.raises(ValueError, match="3 names"):
        metrics.classification_report([0, 2], [0, 1], target_names=["a", "b"], num_classes=3)
    with pytest.raises(ValueError, match="outside the range"):
        metrics.classification_report([0, 2], [0, 1], target_names=["a", "b"])


def test_format_confusion_matrix():
    cm = metrics.confusion_matrix(Y_TRUE, Y_PRED, num_classes=5)
    assert metrics.format_confusion_matrix(cm).splitlines() == [
        "  0 1 2 3 4",
        "0 1 1 0 0 0",
        "1 0 2 0 0 0",
        "2 1 0 1 0 0",
        "3 1 0 0 0 0",
        "4 0 0 0 0 0",
    ]
    named = metrics.format_confusion_matrix([[12, 0], [3, 9]], ["cat", "1"]).splitlines()
    assert named == ["       0  1", "0 cat 12  0", "    1  3  9"]


@pytest.mark.parametrize(
    ("cm", "names", "message"),
    [
        ([[1, 2, 3]], None, "square matrix of counts"),
        ([[0.5, 0], [0, 1]], None, "square matrix of counts, got float64"),
        (np.zeros((0, 0), int), None, "square matrix"),
        ([[1, 0], [0, 1]], ["a"], "2 names"),
    ],
)
def test_format_confusion_matrix_refuses_what_is_not_one(cm, names, message):
    with pytest.raises(ValueError, match=message):
        metrics.format_confusion_matrix(cm, names)


def test_reliability_curve_by_hand():
    proba = np.array(
        [
            [0.9, 0.1, 0.0, 0.0],  # confidence .9, right
            [0.2, 0.8, 0.0, 0.0],  # .8, wrong
            [0.4, 0.3, 0.2, 0.1],  # .4, right
            [0.25, 0.25, 0.25, 0.25],  # .25, predicts 0, wrong
        ]
    )
    curve = metrics.reliability_curve([0, 0, 0, 1], proba, n_bins=2)
    np.testing.assert_allclose(curve.bin_edges, [0, 0.5, 1])
    np.testing.assert_array_equal(curve.counts, [2, 2])
    np.testing.assert_allclose(curve.confidence, [0.325, 0.85])
    np.testing.assert_allclose(curve.accuracy, [0.5, 0.5])
    assert curve.expected_calibration_error == pytest.approx(0.5 * 0.175 + 0.5 * 0.35)
    assert metrics.expected_calibration_error([0, 0, 0, 1], proba, n_bins=2) == pytest.approx(
        curve.expected_calibration_error
    )


def test_reliability_curve_empty_bins_and_perfect_calibration():
    proba = np.eye(3)[[0, 1, 2, 1]]
    curve = metrics.reliability_curve([0, 1, 2, 1], proba)
    assert curve.counts.sum() == 4 and curve.counts[-1] == 4
    assert np.isnan(curve.confidence[:-1]).all() and np.isnan(curve.accuracy[:-1]).all()
    assert curve.expected_calibration_error == 0.0


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_reliability_curve_keeps_dtype_and_matches_a_loop(dtype):
    proba = random_proba(3, n=200, k=10, dtype=dtype)
    y = np.random.default_rng(4).integers(0, 10, size=200)
    curve = metrics.reliability_curve(y, proba, n_bins=10)
    assert curve.confidence.dtype == dtype and curve.accuracy.dtype == dtype
    conf, right = proba.max(axis=1).astype(np.float64), proba.argmax(axis=1) == y
    ece = 0.0
    for lo, hi in zip(curve.bin_edges[:-1], curve.bin_edges[1:], strict=True):
        inside = (conf > lo) & (conf <= hi)
        if inside.any():
            ece += inside.mean() * abs(right[inside].mean() - conf[inside].mean())
    assert curve.expected_calibration_error == pytest.approx(ece, rel=1e-5)


@pytest.mark.parametrize(
    ("y_true", "y_pred", "message"),
    [
        ([0, 1], [0], "2 labels"),
        ([0, -1], [0, 1], "label -1"),
        ([[0, 1]], [[0, 1]], "1-D"),
        ([], [], "at least one"),
        ([0.5], [0], "non-integral"),
        (["a"], [0], "dtype"),
    ],
)
def test_label_checks(y_true, y_pred, message):
    with pytest.raises(ValueError, match=message):
        metrics.confusion_matrix(y_true, y_pred)


def test_argument_checks():
    with pytest.raises(ValueError, match="outside the range"):
        metrics.confusion_matrix([0, 3], [0, 1], num_classes=3)
    with pytest.raises(ValueError, match="num_classes"):
        metrics.confusion_matrix([0], [0], num_classes=0)
    for value in (True, 2.0):  # booleans are not numbers here, as everywhere in the package
        with pytest.raises(ValueError, match="num_classes must be an integer"):
            metrics.confusion_matrix([0], [0], num_classes=value)
    with pytest.raises(ValueError, match="digits must be an integer"):
        metrics.classification_report([0], [0], digits=True)
    with pytest.raises(ValueError, match="average"):
        metrics.precision_recall_f1([0], [0], average="samples")
    with pytest.raises(ValueError, match="n_bins"):
        metrics.reliability_curve([0], [[1.0, 0.0]], n_bins=0)
    with pytest.raises(ValueError, match="n_bins must be an integer"):
        metrics.reliability_curve([0], [[1.0, 0.0]], n_bins=True)
