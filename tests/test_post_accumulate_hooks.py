"""Tensor.register_post_accumulate_grad_hook: the engine runs the hook as soon as a leaf's
gradient is complete, with ``.grad`` already accumulated (DistributedDataParallel starts its
bucket allreduces there, overlapping the rest of backward)."""
import numpy as np
import pytest

import tapegrad as tg
from tapegrad.core.node import POST_HOOKS


def test_hook_runs_once_when_the_leaf_is_complete_before_earlier_layers():
    w1 = tg.tensor([1.0, 2.0], requires_grad=True)
    w2 = tg.tensor([3.0, 4.0], requires_grad=True)
    x = tg.tensor([0.5, -1.0])
    seen = []
    w1.register_post_accumulate_grad_hook(lambda t: seen.append(("w1", t.grad.numpy().copy(),
                                                                 w2.grad is None)))
    w2.register_post_accumulate_grad_hook(lambda t: seen.append(("w2", t.grad.numpy().copy(),
                                                                 w1.grad is None)))
    # w1 is used first and last, so it is complete only at the end; w2 earlier
    y = ((x * w1).tanh() * w2 + w1 * 2).sum()
    y.backward()
    assert [s[0] for s in seen] == ["w2", "w1"]
    assert seen[0][2] is True                   # w2's hook ran while w1 had no gradient yet
    assert seen[1][2] is False
    t = np.tanh(np.array([0.5, -2.0]))
    np.testing.assert_allclose(seen[0][1], t, rtol=1e-6)
    np.testing.assert_allclose(seen[1][1], np.array([0.5, -1.0]) * (1 - t ** 2) *
                               np.array([3.0, 4.0]) + 2, rtol=1e-6)


def test_matches_pytorch_including_accumulation_over_two_backward_passes():
    torch = pytest.importorskip("torch")
    w = tg.tensor([[0.3, -0.2], [0.1, 0.4]], requires_grad=True)
    tw = torch.tensor(w.numpy(), requires_grad=True)
    got, want = [], []
    w.register_post_accumulate_grad_hook(lambda t: got.append(t.grad.numpy().copy()))
    tw.register_post_accumulate_grad_hook(lambda t: want.append(t.grad.numpy().copy()))
    for k in range(2):
        x = np.array([[1.0, 2.0], [k, -1.0]], dtype=np.float32)
        ((tg.tensor(x) @ w).relu() @ w).sum().backward()
        ((torch.tensor(x) @ tw).relu() @ tw).sum().backward()
    assert len(got) == len(want) == 2
    for a, b in zip(got, want):
        np.testing.assert_allclose(a, b, rtol=1e-6)


def test_grad_is_its_own_buffer_so_changing_it_in_the_hook_is_safe():
    # add's VJP hands the same array to both inputs; the hook zeroes w.grad in place while
    # the other input's gradient is still to be used
    w = tg.tensor([1.0, 2.0], requires_grad=True)
    x = tg.tensor([3.0, 4.0], requires_grad=True)
    w.register_post_accumulate_grad_hook(lambda t: t.grad._data.__setitem__(Ellipsis, 0.0))
    ((w + x * 2) * tg.tensor([1.0, 10.0])).sum().backward()
    np.testing.assert_array_equal(w.grad.numpy(), [0.0, 0.0])
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 20.0])


def test_a_leaf_reached_only_through_none_gradients_finishes_at_the_end():
    w = tg.tensor([1.0, 2.0], requires_grad=True)
    calls = []
    w.register_post_accumulate_grad_hook(lambda t: calls.append(t.grad.numpy().copy()))
    # the integer index path gives w no gradient through it; the product does
    (w[tg.tensor([0, 1])] * w).sum().backward()
    assert len(calls) == 1
    np.testing.assert_array_equal(calls[0], [2.0, 4.0])


def test_remove_and_errors():
    before = POST_HOOKS[0]
    w = tg.tensor([1.0], requires_grad=True)
    calls = []
    h = w.register_post_accumulate_grad_hook(calls.append)
    assert POST_HOOKS[0] == before + 1
    h.remove()
    assert POST_HOOKS[0] == before
    (w * 3).sum().backward()
    assert calls == [] and w.grad.item() == 3.0
    with pytest.raises(RuntimeError, match="only be registered on leaf tensors that require"):
        (w * 2).register_post_accumulate_grad_hook(calls.append)
    with pytest.raises(RuntimeError, match="only be registered on leaf tensors that require"):
        tg.tensor([1.0]).register_post_accumulate_grad_hook(calls.append)


def test_tg_grad_does_not_run_post_accumulate_hooks():
    w = tg.tensor([1.0, 2.0], requires_grad=True)
    calls = []
    w.register_post_accumulate_grad_hook(calls.append)
    (g,) = tg.grad((w * w).sum(), w)
    np.testing.assert_array_equal(g.numpy(), [2.0, 4.0])
    assert calls == [] and w.grad is None
