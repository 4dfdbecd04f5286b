"""Every kind of bad input raises a clear error naming the argument (who failed, what is allowed, what came)."""

import numpy as np
import pytest

import ibscope
from ibscope.estimators import KSG


@pytest.fixture
def xy():
    rng = np.random.default_rng(0)
    return rng.standard_normal((50, 2)), rng.standard_normal((50, 1))


def test_mismatched_lengths(xy):
    x, y = xy
    with pytest.raises(ValueError, match=r"'x' and 'y' arguments must have the same number of rows.*Got 50 and 49"):
        ibscope.mutual_information(x, y[:49])


@pytest.mark.parametrize("bad, what", [(np.nan, "1 NaN, 0 inf"), (np.inf, "0 NaN, 1 inf")])
def test_non_finite(xy, bad, what):
    x, y = xy
    x = x.copy()
    x[3, 1] = bad
    with pytest.raises(ValueError, match=rf"'x' argument contains non-finite values \({what}; first in row 3\)"):
        ibscope.mutual_information(x, y)


def test_k_too_large(xy):
    x, y = xy
    with pytest.raises(ValueError, match=r"'k' parameter of KSG must be an int in the range \[1, n_samples - 1\]\. "
                                         r"Got 50 instead \(n_samples=50\)"):
        ibscope.mutual_information(x, y, k=50)


def test_k_not_int(xy):
    x, y = xy
    with pytest.raises(TypeError, match=r"'k' parameter of KSG must be an int. Got 2.5"):
        ibscope.mutual_information(x, y, k=2.5)


def test_zero_rows():
    with pytest.raises(ValueError, match=r"'x' argument has 0 rows"):
        ibscope.mutual_information(np.zeros((0, 2)), np.zeros((0, 2)))


def test_single_row():
    with pytest.raises(ValueError, match=r"At least 2 samples"):
        ibscope.mutual_information(np.zeros((1, 2)), np.zeros((1, 2)))


def test_three_dimensional_array(xy):
    _, y = xy
    with pytest.raises(ValueError, match=r"'x' argument must be a 1-D or 2-D array.*shape \(50, 2, 2\).*reshape"):
        ibscope.mutual_information(np.zeros((50, 2, 2)), y)


def test_non_numeric(xy):
    _, y = xy
    with pytest.raises(TypeError, match=r"'x' argument must hold numeric data. Got dtype <U1"):
        ibscope.mutual_information(np.array(["a"] * 50), y)


def test_ragged_input(xy):
    _, y = xy
    with pytest.raises(TypeError, match=r"'x' argument must be array-like"):
        ibscope.mutual_information([[1, 2], [3]] * 25, y)


def test_non_integer_labels(xy):
    x, _ = xy
    labels = np.linspace(0, 1, 50)
    with pytest.raises(ValueError, match=r"'y' argument must hold integer class labels.*Got non-integer values"):
        ibscope.mutual_information(x, labels, y_discrete=True)


def test_float_labels_that_are_whole_numbers_are_fine(xy):
    x, _ = xy
    labels = np.repeat([0.0, 1.0], 25)
    res = ibscope.mutual_information(x, labels, y_discrete=True, k=3, random_state=0)
    assert np.isfinite(res.value)


def test_single_class(xy):
    x, _ = xy
    with pytest.raises(ValueError, match=r"'y' argument of .* has a single class"):
        ibscope.mutual_information(x, np.zeros(50, dtype=int), y_discrete=True)


def test_class_too_small_for_k(xy):
    x, _ = xy
    labels = np.zeros(50, dtype=int)
    labels[:3] = 1
    with pytest.raises(ValueError, match=r"Every class needs at least 6 samples for k=5.*class\(es\) \[1\] have \[3\]"):
        ibscope.mutual_information(x, labels, y_discrete=True, estimator="kl")


def test_unknown_estimator(xy):
    x, y = xy
    with pytest.raises(ValueError, match=r"Unknown estimator 'ksgg' for continuous x and y. Valid names: .*ksg"):
        ibscope.mutual_information(x, y, estimator="ksgg")


def test_unknown_estimator_parameter(xy):
    x, y = xy
    with pytest.raises(ValueError, match=r"Unknown parameter\(s\) 'n_neighbours' for estimator 'auto'. Valid parameters: k,"):
        ibscope.mutual_information(x, y, n_neighbours=3)


def test_bad_parameter_values(xy):
    x, y = xy
    with pytest.raises(ValueError, match=r"'units' parameter must be one of \['bits', 'nats'\]. Got 'bit'"):
        ibscope.mutual_information(x, y, units="bit")
    with pytest.raises(ValueError, match=r"'ci' parameter of AutoMI must be a float in the range \(0.0, 1.0\). Got 95.0"):
        ibscope.mutual_information(x, y, ci=95)
    with pytest.raises(ValueError, match=r"'variant' parameter of KSG must be one of \[1, 2\]. Got 3"):
        KSG(variant=3).estimate(x, y)
    with pytest.raises(TypeError, match=r"random_state must be an int, a numpy Generator or None"):
        ibscope.mutual_information(x, y, random_state="zero")


def test_ci_with_too_few_samples():
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((8, 1)), rng.standard_normal((8, 1))
    with pytest.raises(ValueError, match=r"Too few samples for a subsampling confidence interval"):
        ibscope.mutual_information(x, y, k=5, ci=0.95)


def test_torch_tensors_and_lists_are_accepted():
    import torch

    rng = np.random.default_rng(0)
    x = rng.standard_normal((200, 2))
    y = x[:, :1] + rng.standard_normal((200, 1))
    a = ibscope.mutual_information(x, y, random_state=0).raw_value
    b = ibscope.mutual_information(torch.from_numpy(x).float(), y.tolist(), random_state=0).raw_value
    assert b == pytest.approx(a, abs=1e-5)


def test_entropy_bad_estimator():
    with pytest.raises(ValueError, match=r"Unknown estimator 'ksg' for continuous x. Valid names: gaussian, kde, kl, wkl"):
        ibscope.entropy(np.zeros((10, 1)), estimator="ksg")


def test_cuda_requested_without_gpu(xy):
    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    x, y = xy
    with pytest.raises(ValueError, match=r"device='cuda' was requested but CUDA is not available"):
        ibscope.mutual_information(x, y, device="cuda")
