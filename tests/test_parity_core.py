"""PyTorch parity for the core ops (one row per op: values, gradients, 2nd-order gradients)."""
import numpy as np
import torch

import tapegrad as tg
from parity import Row, check_row, parametrize, uniform, uniform2


r, r2 = uniform, uniform2


def away_from_zero(*shape):
    def make(rng):
        x = rng.uniform(-2, 2, shape)
        return [x + 0.3 * np.sign(x)]
    return make


ROWS = [
    Row("add", lambda a, b: a + b, lambda a, b: a + b, r2((2, 3), (3,))),
    Row("add-scalar", lambda a: 2.5 + a, lambda a: 2.5 + a, r(2, 3)),
    Row("sub", lambda a, b: a - b, lambda a, b: a - b, r2((2, 1), (1, 3))),
    Row("rsub", lambda a: 1.5 - a, lambda a: 1.5 - a, r(3)),
    Row("mul", lambda a, b: a * b, lambda a, b: a * b, r2((2, 3), (2, 3))),
    Row("div", lambda a, b: a / b, lambda a, b: a / b, r2((2, 3), (3,), low2=0.5, high2=2)),
    Row("rdiv", lambda a: 2.0 / a, lambda a: 2.0 / a, r(3, low=0.5, high=2)),
    Row("pow-scalar", lambda a: a ** 3, lambda a: a ** 3, r(2, 3)),
    Row("pow-half", lambda a: a ** 0.5, lambda a: a ** 0.5, r(4, low=0.5, high=2)),
    Row("pow-tensor", lambda a, b: a ** b, lambda a, b: a ** b,
        r2((2, 3), (3,), low=0.5, high=2.0, low2=-1.5, high2=1.5)),
    Row("rpow", lambda b: 2.0 ** b, lambda b: 2.0 ** b, r(3)),
    Row("neg", lambda a: -a, lambda a: -a, r(2, 3)),
    Row("exp", tg.exp, torch.exp, r(2, 3)),
    Row("log", tg.log, torch.log, r(2, 3, low=0.2, high=3)),
    Row("sqrt", tg.sqrt, torch.sqrt, r(2, 3, low=0.2, high=3)),
    Row("square", tg.square, torch.square, r(2, 3)),
    Row("abs", tg.abs, torch.abs, away_from_zero(2, 3)),
    Row("relu", tg.relu, torch.relu, away_from_zero(2, 3)),
    Row("sigmoid", tg.sigmoid, torch.sigmoid, r(2, 3, low=-5, high=5)),
    Row("tanh", tg.tanh, torch.tanh, r(2, 3)),
    Row("softmax", lambda a: tg.softmax(a, dim=-1), lambda a: torch.softmax(a, dim=-1), r(2, 4)),
    Row("softmax-dim0", lambda a: tg.softmax(a, 0), lambda a: torch.softmax(a, 0), r(3, 2)),
    Row("clamp", lambda a: tg.clamp(a, -1.0, 1.0), lambda a: torch.clamp(a, -1.0, 1.0),
        lambda rng: [np.array([-2.0, -0.5, 0.3, 1.7, 0.9, -1.4])]),
    Row("matmul", tg.matmul, torch.matmul, r2((2, 3), (3, 4))),
    Row("matmul-batched", tg.matmul, torch.matmul, r2((2, 2, 3), (3, 4))),
    Row("matmul-broadcast", tg.matmul, torch.matmul, r2((2, 1, 2, 3), (3, 3, 2))),
    Row("matmul-vec-mat", tg.matmul, torch.matmul, r2((3,), (3, 4))),
    Row("matmul-mat-vec", tg.matmul, torch.matmul, r2((2, 3), (3,))),
    Row("matmul-dot", tg.matmul, torch.matmul, r2((3,), (3,))),
    Row("transpose", lambda a: a.transpose(0, 1), lambda a: a.transpose(0, 1), r(2, 3)),
    Row("T", lambda a: a.T, lambda a: a.T, r(2, 3)),
    Row("reshape", lambda a: a.reshape(3, 2), lambda a: a.reshape(3, 2), r(2, 3)),
    Row("view", lambda a: a.view(-1), lambda a: a.view(-1), r(2, 3)),
    Row("sum", lambda a: a.sum(), lambda a: a.sum(), r(2, 3)),
    Row("sum-dim", lambda a: a.sum(dim=1, keepdim=True), lambda a: a.sum(dim=1, keepdim=True),
        r(2, 3)),
    Row("sum-axis", lambda a: a.sum(axis=(0, 2)), lambda a: a.sum(dim=(0, 2)), r(2, 3, 4)),
    Row("mean", lambda a: a.mean(), lambda a: a.mean(), r(2, 3)),
    Row("mean-dim", lambda a: a.mean(0), lambda a: a.mean(0), r(2, 3)),
    Row("max", lambda a: a.max(), lambda a: a.max(), r(2, 3)),
    Row("max-dim", lambda a: a.max(dim=1), lambda a: tuple(a.max(dim=1)), r(2, 3)),
    Row("min-dim-keepdim", lambda a: a.min(1, keepdim=True),
        lambda a: tuple(a.min(1, keepdim=True)), r(2, 3)),
    Row("argmax", lambda a: a.argmax(), lambda a: a.argmax(), r(2, 3), grad=False),
    Row("argmax-dim", lambda a: a.argmax(dim=0), lambda a: a.argmax(dim=0), r(2, 3), grad=False),
    Row("getitem-basic", lambda a: a[1:, ::2], lambda a: a[1:, ::2], r(3, 4)),
    Row("getitem-int", lambda a: a[0, 1], lambda a: a[0, 1], r(3, 4)),
]


@parametrize(ROWS)
def test_parity(row):
    check_row(row)
