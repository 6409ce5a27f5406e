"""Errors in PyTorch's categories, in tapegrad's words: representative wrong calls made of
tapegrad and of torch 2.13 alike. Each raises in both; tapegrad's error is an instance of
the class PyTorch raises (a ShapeError is a RuntimeError and a ValueError, so it stands for
PyTorch's RuntimeError and for its ValueError on cross_entropy's batch size), names the op
and carries none of NumPy's words. The registry-wide sweep is tests/test_error_sweep.py."""
import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import tapegrad as tg
import tapegrad.nn.functional as F
from tapegrad.core.errors import ShapeError

from test_error_sweep import NUMPY_WORDS


def _pair(shape, seed=0):
    a = np.random.default_rng(seed).standard_normal(shape)
    return tg.tensor(a), torch.tensor(a)


X, TX = _pair((3, 4))
Y, TY = _pair((2, 3, 4), 1)
IMG, TIMG = _pair((1, 3, 5, 5), 2)
W, TW = _pair((2, 4, 3, 3), 3)

# (op the message names, tapegrad's call, torch's call)
CASES = [
    # dims out of range: IndexError
    ("permute", lambda: X.permute(0, 2), lambda: TX.permute(0, 2)),
    ("transpose", lambda: X.transpose(0, 2), lambda: TX.transpose(0, 2)),
    ("sum", lambda: X.sum(dim=5), lambda: TX.sum(dim=5)),
    ("softmax", lambda: tg.softmax(X, 5), lambda: torch.softmax(TX, 5)),
    ("unsqueeze", lambda: X.unsqueeze(4), lambda: TX.unsqueeze(4)),
    ("flatten", lambda: X.flatten(3), lambda: TX.flatten(3)),
    ("index_select", lambda: X.index_select(3, tg.tensor([0])),
     lambda: TX.index_select(3, torch.tensor([0]))),
    # dims listed twice: RuntimeError
    ("permute", lambda: X.permute(0, 0), lambda: TX.permute(0, 0)),
    ("flip", lambda: X.flip((0, 0)), lambda: TX.flip((0, 0))),
    ("sum", lambda: X.sum(dim=(0, 0)), lambda: TX.sum(dim=(0, 0))),
    ("amax", lambda: X.amax(dim=(1, 1)), lambda: TX.amax(dim=(1, 1))),
    ("mean", lambda: X.mean(dim=(1, 1)), lambda: TX.mean(dim=(1, 1))),
    ("logsumexp", lambda: X.logsumexp(dim=(1, 1)), lambda: TX.logsumexp(dim=(1, 1))),
    ("movedim", lambda: tg.movedim(Y, (0, 0), (1, 2)), lambda: torch.movedim(TY, (0, 0), (1, 2))),
    # shapes and sizes: RuntimeError (ShapeError)
    ("reshape", lambda: X.reshape(5, 5), lambda: TX.reshape(5, 5)),
    ("reshape", lambda: X.view(5, 5), lambda: TX.view(5, 5)),
    ("cat", lambda: tg.cat([X, tg.zeros(3, 5)]), lambda: torch.cat([TX, torch.zeros(3, 5)])),
    ("stack", lambda: tg.stack([X, tg.zeros(3, 5)]), lambda: torch.stack([TX, torch.zeros(3, 5)])),
    ("matmul", lambda: X @ tg.zeros(5, 2), lambda: TX @ torch.zeros(5, 2)),
    ("linear", lambda: F.linear(X, tg.zeros(2, 5)), lambda: TF.linear(TX, torch.zeros(2, 5))),
    ("expand", lambda: X.expand(2, 5), lambda: TX.expand(2, 5)),
    ("repeat", lambda: X.repeat(2), lambda: TX.repeat(2)),
    ("conv2d", lambda: F.conv2d(IMG, W), lambda: TF.conv2d(TIMG, TW)),
    ("layer_norm", lambda: F.layer_norm(X, (5,)), lambda: TF.layer_norm(TX, (5,))),
    ("mse_loss", lambda: F.mse_loss(X, tg.zeros(3, 5)), lambda: TF.mse_loss(TX, torch.zeros(3, 5))),
    ("bmm", lambda: tg.bmm(Y, tg.zeros(2, 5, 2)), lambda: torch.bmm(TY, torch.zeros(2, 5, 2))),
    ("cross_entropy", lambda: F.cross_entropy(X, tg.tensor([0, 1])),     # ValueError in both
     lambda: TF.cross_entropy(TX, torch.tensor([0, 1]))),
    ("pow", lambda: tg.tensor([1, 2]) ** -1, lambda: torch.tensor([1, 2]) ** -1),
    # wrong types: TypeError
    ("reshape", lambda: X.reshape("a"), lambda: TX.reshape("a")),
    ("add", lambda: X + "a", lambda: TX + "a"),
    ("exp", lambda: tg.exp("a"), lambda: torch.exp("a")),
    ("sum", lambda: X.sum(dim="a"), lambda: TX.sum(dim="a")),
    ("narrow", lambda: X.narrow(0, "a", 1), lambda: TX.narrow(0, "a", 1)),
    ("clone", lambda: tg.clone(["a"]), lambda: torch.clone(["a"])),
    ("where", lambda: tg.where("a", X, X), lambda: torch.where("a", TX, TX)),
    ("max_pool2d", lambda: F.max_pool2d(IMG, "a"), lambda: TF.max_pool2d(TIMG, "a")),
    # wrong dtypes: RuntimeError
    ("gather", lambda: tg.gather(X, 1, tg.tensor([[0.5]])),
     lambda: torch.gather(TX, 1, torch.tensor([[0.5]]))),
    ("one_hot", lambda: F.one_hot(tg.tensor([0.5])), lambda: TF.one_hot(torch.tensor([0.5]))),
]


def _raised(fn):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(Exception) as info:
            fn()
    return info.value


@pytest.mark.parametrize("op,ours,theirs", CASES, ids=[f"{c[0]}-{i}" for i, c in
                                                       enumerate(CASES)])
def test_same_category_as_pytorch(op, ours, theirs):
    expected, e = type(_raised(theirs)), _raised(ours)
    assert isinstance(e, expected), f"PyTorch raises {expected.__name__}, tapegrad " \
                                    f"{type(e).__name__}: {e}"
    msg = str(e)
    assert op in msg, msg
    assert not [w for w in NUMPY_WORDS if w in msg.lower()], msg


def test_the_issues_examples_in_our_words():
    """The messages issue 15 quotes, as tapegrad words them now."""
    with pytest.raises(IndexError, match=r"permute: dimension out of range .* got 2"):
        X.permute(0, 2)
    with pytest.raises(ShapeError, match=r"reshape: shape \[5, 5\] is invalid for input of "
                                         r"size 12 \(shape \[3, 4\]\)"):
        X.reshape(5, 5)
    with pytest.raises(TypeError, match=r"reshape\(\): argument 'shape' must be a tuple of "
                                        r"ints, but found element of type str at pos 1"):
        X.reshape(2, "a")
    with pytest.raises(RuntimeError, match=r"flip: dim 0 appears multiple times"):
        X.flip((0, 0))
    with pytest.raises(IndexError, match=r"transpose: dimension out of range"):
        X.transpose(0, 2)
    with pytest.raises(RuntimeError, match=r"sum: dim 0 appears multiple times"):
        X.sum(dim=(0, 0))
    with pytest.raises(RuntimeError, match=r"pow: Integers to negative integer powers are "
                                           r"not allowed\."):
        tg.tensor([1, 2]) ** -1
    with pytest.raises(TypeError, match=r"exp\(\): argument 'x' \(position 1\) must be a "
                                        r"tensor, a number or a sequence of numbers, not str"):
        tg.exp("a")
    with pytest.raises(TypeError, match=r"softmax\(\): argument 'x' \(position 1\) .* not "
                                        r"list holding str"):
        tg.softmax(["a"], 0)


def test_shape_errors_are_both_categories():
    """Existing ``except RuntimeError`` and ``except ValueError`` both catch a shape error."""
    for fn in (lambda: X.reshape(5, 5), lambda: tg.cat([X, tg.zeros(3, 5)]),
               lambda: F.cross_entropy(X, tg.tensor([0, 1]))):
        e = _raised(fn)
        assert isinstance(e, ShapeError) and isinstance(e, RuntimeError) and \
            isinstance(e, ValueError)


def test_pow_of_integers_to_nonnegative_powers_still_works():
    assert (tg.tensor([2, 3]) ** 2).tolist() == [4, 9]
    assert (tg.tensor([2, 3]) ** tg.tensor([0, 1])).tolist() == [1, 3]


def test_a_users_function_keeps_its_own_errors():
    """Only tapegrad's ops are reworded: a user's Function raising on a string argument
    keeps its error."""
    class Mine(tg.autograd.Function):
        @staticmethod
        def forward(ctx, x, tag):
            raise ValueError(f"my op does not like {tag!r}")

        @staticmethod
        def backward(ctx, g):
            return g, None
    with pytest.raises(ValueError, match="my op does not like 'a'"):
        Mine.apply(X, "a")
