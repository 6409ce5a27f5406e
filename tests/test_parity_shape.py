"""PyTorch parity for the shape ops (one row per op or notable variant: values in float64 and
float32, first- and second-order gradients), and their errors for bad input."""
import numpy as np
import pytest
import torch

import tapegrad as tg
from parity import Row, check_row, parametrize, normal, normals, both


r, rs = normal, normals


ROWS = [
    Row("reshape-infer", *both(lambda a: a.reshape(-1, 2)), r(2, 3)),
    Row("view-tuple", *both(lambda a: a.view((3, 2))), r(2, 3)),
    Row("flatten", *both(lambda a: a.flatten(1)), r(2, 3, 4)),
    Row("flatten-0d", *both(lambda a: a.flatten()), r()),
    Row("unflatten", *both(lambda a: a.unflatten(1, (2, -1))), r(2, 6)),
    Row("squeeze", *both(lambda a: a.squeeze()), r(1, 3, 1)),
    Row("squeeze-dim", *both(lambda a: a.squeeze(0)), r(1, 3)),
    Row("unsqueeze", *both(lambda a: a.unsqueeze(-1)), r(2, 3)),
    Row("permute", *both(lambda a: a.permute(2, 0, 1)), r(2, 3, 4)),
    Row("mT", *both(lambda a: a.mT), r(2, 3, 4)),
    Row("t", *both(lambda a: a.t()), r(2, 3)),
    Row("swapaxes", *both(lambda a: a.swapaxes(0, 2)), r(2, 3, 4)),
    Row("movedim", *both(lambda a: a.movedim(0, -1)), r(2, 3, 4)),
    Row("movedim-multi", *both(lambda a: torch_or_tg(a).movedim(a, (0, 1), (2, 0))), r(2, 3, 4)),
    Row("expand", *both(lambda a: a.expand(4, -1, 3)), r(2, 1)),
    Row("expand-0d", *both(lambda a: a.expand(2, 3)), r()),
    Row("expand_as", lambda a, b: a.expand_as(b), lambda a, b: a.expand_as(b), rs((3, 1), (2, 3, 4))),
    Row("broadcast_to", *both(lambda a: torch_or_tg(a).broadcast_to(a, (2, 3))), r(3)),
    Row("repeat", *both(lambda a: a.repeat(2, 3)), r(2, 3)),
    Row("repeat-newdims", *both(lambda a: a.repeat(2, 1, 2)), r(3)),
    Row("tile", *both(lambda a: torch_or_tg(a).tile(a, (2,))), r(2, 3)),
    Row("tile-lead", *both(lambda a: a.tile((2, 1, 2))), r(2, 3)),
    Row("flip", *both(lambda a: a.flip(0, 2)), r(2, 3, 2)),
    Row("flip-tuple", *both(lambda a: a.flip((0, 2))), r(2, 3, 2)),
    Row("flip-neg", *both(lambda a: torch_or_tg(a).flip(a, [-1])), r(2, 3)),
    Row("roll", *both(lambda a: a.roll(1)), r(2, 3)),
    Row("roll-dims", *both(lambda a: a.roll((1, -2), (0, 1))), r(2, 3)),
    Row("roll-big", *both(lambda a: a.roll(7, 0)), r(3, 2)),
    Row("narrow", *both(lambda a: a.narrow(1, 1, 2)), r(3, 4)),
    Row("narrow-neg", *both(lambda a: a.narrow(0, -2, 2)), r(3, 4)),
    Row("narrow-empty", *both(lambda a: a.narrow(1, 4, 0)), r(3, 4)),
    Row("clone", *both(lambda a: a.clone()), r(2, 3)),
]


def torch_or_tg(a):
    return torch if isinstance(a, torch.Tensor) else tg


@parametrize(ROWS)
def test_parity(row):
    check_row(row)


def test_integer_tensors_keep_dtype():
    a = np.arange(6).reshape(2, 3)
    for f in (lambda t: t.repeat(2, 1), lambda t: t.flip(0), lambda t: t.roll(1, 1),
              lambda t: t.expand(2, 2, 3), lambda t: t.movedim(0, 1)):
        got, want = f(tg.tensor(a)), f(torch.tensor(a))
        assert got.dtype == np.int64
        np.testing.assert_array_equal(got.numpy(), want.numpy())


def test_views_share_memory():
    x = tg.tensor(np.arange(12.0).reshape(3, 4))
    assert np.shares_memory(x.narrow(1, 1, 2).numpy(), x.numpy())
    assert np.shares_memory(x.flip(0).numpy(), x.numpy())
    assert np.shares_memory(x.expand(2, 3, 4).numpy(), x.numpy())
    assert np.shares_memory(x.movedim(0, 1).numpy(), x.numpy())


def test_repeat_gradient_sums_copies():
    x = tg.tensor([1.0, 2.0], requires_grad=True)
    x.repeat(3, 2).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [6.0, 6.0])


ERRORS = [
    ("expand-mismatch", lambda: tg.zeros(2, 3).expand(3, 4), RuntimeError, "expand"),
    ("expand-fewer", lambda: tg.zeros(2, 3).expand(3), RuntimeError, "number of sizes"),
    ("expand-lead-neg", lambda: tg.zeros(2, 3).expand(-1, 2, 3), RuntimeError, "leading"),
    ("repeat-fewer", lambda: tg.zeros(2, 3).repeat(2), RuntimeError, "repeat"),
    ("unflatten", lambda: tg.zeros(2, 3).unflatten(1, (3, 2)), RuntimeError, "unflatten"),
    ("roll-align", lambda: tg.zeros(2, 3).roll((1, 2), (0,)), RuntimeError, "roll"),
    ("flip-dim", lambda: tg.zeros(2, 3).flip(5), IndexError, "flip"),
    ("movedim-dim", lambda: tg.zeros(2, 3).movedim(0, 5), IndexError, "movedim"),
    ("narrow-len", lambda: tg.zeros(3, 4).narrow(1, 3, 2), RuntimeError, "exceeds dimension"),
    ("narrow-start", lambda: tg.zeros(3, 4).narrow(1, 5, 0), IndexError, "start out of range"),
    ("permute-len", lambda: tg.zeros(2, 3).permute(0), ValueError, "permute"),
    ("squeeze-dim", lambda: tg.zeros(2, 3).squeeze(4), IndexError, "squeeze"),
]


@pytest.mark.parametrize("name,fn,exc,frag", ERRORS, ids=[e[0] for e in ERRORS])
def test_errors(name, fn, exc, frag):
    with pytest.raises(exc, match=frag):
        fn()
