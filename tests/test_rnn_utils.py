"""tapegrad.nn.utils.rnn against torch.nn.utils.rnn (PyTorch 2.13): pad_sequence
(batch_first, padding_value, padding_side), pack_padded_sequence (sorted, enforce_sorted=False
with its permutation, batch_first), pad_packed_sequence (total_length, padding_value),
pack_sequence, unpad/unpack_sequence, PackedSequence's fields and conversions, gradients
through packing and padding, and the errors."""
import numpy as np
import pytest

import tapegrad as tg
from tapegrad.nn.utils import rnn as R
from tapegrad.nn.utils.rnn import PackedSequence

torch = pytest.importorskip("torch")
TR = torch.nn.utils.rnn


def _seqs(lengths, feat=(3,), seed=0):
    rng = np.random.default_rng(seed)
    arrays = [rng.standard_normal((n,) + feat) for n in lengths]
    return ([tg.tensor(a, requires_grad=True) for a in arrays],
            [torch.tensor(a, requires_grad=True) for a in arrays])


def _close(a, b):
    np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), rtol=0, atol=0)


def test_existing_nn_utils_names_still_import():
    from tapegrad.nn.utils import clip_grad_norm_, parameters_to_vector  # noqa: F401
    assert tg.nn.utils.rnn is R
    assert tg.nn.utils.clip_grad_value_ is tg.nn.clip_grad_value_


@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("side", ["right", "left"])
@pytest.mark.parametrize("feat", [(3,), (), (2, 2)], ids=["feat3", "scalar", "feat2x2"])
def test_pad_sequence(batch_first, side, feat):
    ours, theirs = _seqs([2, 4, 1], feat)
    a = R.pad_sequence(ours, batch_first=batch_first, padding_value=-2.5, padding_side=side)
    b = TR.pad_sequence(theirs, batch_first=batch_first, padding_value=-2.5,
                        padding_side=side)
    _close(a, b)
    w = np.random.default_rng(1).standard_normal(a.shape)
    (a * tg.tensor(w)).sum().backward()
    (b * torch.tensor(w)).sum().backward()
    for x, y in zip(ours, theirs):
        _close(x.grad, y.grad)


@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("lengths,enforce", [([4, 3, 3, 1], True), ([2, 4, 1, 4, 3], False)],
                         ids=["sorted", "unsorted"])
def test_pack_and_pad_round_trip(batch_first, lengths, enforce):
    ours, theirs = _seqs(lengths, seed=2)
    x = R.pad_sequence(ours, batch_first=batch_first)
    tx = TR.pad_sequence(theirs, batch_first=batch_first)
    p = R.pack_padded_sequence(x, lengths, batch_first=batch_first, enforce_sorted=enforce)
    tp = TR.pack_padded_sequence(tx, lengths, batch_first=batch_first, enforce_sorted=enforce)
    _close(p.data, tp.data)
    assert p.batch_sizes.tolist() == tp.batch_sizes.tolist()
    assert p.batch_sizes.dtype == np.int64 and p.batch_sizes.device.type == "cpu"
    for mine, theirs_ in ((p.sorted_indices, tp.sorted_indices),
                          (p.unsorted_indices, tp.unsorted_indices)):
        assert (mine is None) == (theirs_ is None)
        if mine is not None:
            assert mine.tolist() == theirs_.tolist()
    out, n = R.pad_packed_sequence(p, batch_first=batch_first, padding_value=9.0,
                                   total_length=6)
    tout, tn = TR.pad_packed_sequence(tp, batch_first=batch_first, padding_value=9.0,
                                      total_length=6)
    _close(out, tout)
    assert n.tolist() == tn.tolist() == lengths
    w = np.random.default_rng(3).standard_normal(out.shape)
    ((out * tg.tensor(w)).sum() + (p.data ** 2).sum()).backward()
    ((tout * torch.tensor(w)).sum() + (tp.data ** 2).sum()).backward()
    for a, b in zip(ours, theirs):
        _close(a.grad, b.grad)


def test_pack_sequence_and_unpack():
    ours, theirs = _seqs([3, 5, 2], seed=4)
    p = R.pack_sequence(ours, enforce_sorted=False)
    tp = TR.pack_sequence(theirs, enforce_sorted=False)
    _close(p.data, tp.data)
    for a, b in zip(R.unpack_sequence(p), TR.unpack_sequence(tp)):
        _close(a, b)
    padded, lengths = R.pad_packed_sequence(p)
    for a, b in zip(R.unpad_sequence(padded, lengths),
                    TR.unpad_sequence(*TR.pad_packed_sequence(tp))):
        _close(a, b)


def test_packed_sequence_fields_and_conversions():
    ours, _ = _seqs([2, 3], seed=5)
    p = R.pack_sequence(ours, enforce_sorted=False)
    data, batch_sizes, sorted_indices, unsorted_indices = p   # a namedtuple, as PyTorch's
    assert p._fields == TR.PackedSequence._fields
    assert sorted_indices.tolist() == [1, 0] and unsorted_indices.tolist() == [1, 0]
    q = p.float()
    assert q.data.dtype == np.float32 and q.batch_sizes is p.batch_sizes
    assert q.double().data.dtype == np.float64 and not q.is_cuda
    made = PackedSequence(p.data, [2, 2, 1], tg.tensor([1, 0]))
    assert made.unsorted_indices.tolist() == [1, 0]
    assert made.batch_sizes.tolist() == [2, 2, 1]
    assert R.invert_permutation(tg.tensor([2, 0, 1])).tolist() == [1, 2, 0]
    assert R.invert_permutation(None) is None


def test_errors():
    x = tg.zeros((4, 3, 2))
    with pytest.raises(ValueError, match="`lengths` array must be sorted in decreasing order "
                                         "when `enforce_sorted` is True"):
        R.pack_padded_sequence(x, [2, 3, 1])
    with pytest.raises(ValueError, match="length of all samples has to be greater than 0"):
        R.pack_padded_sequence(x, [3, 0, 1], enforce_sorted=False)
    with pytest.raises(tg.ShapeError, match=r"expected len\(lengths\) to be equal to "
                                            r"batch_size, but got 2 \(batch_size=3\)"):
        R.pack_padded_sequence(x, [3, 2])
    with pytest.raises(tg.ShapeError, match="a sequence of length 5 does not fit in the "
                                            "input's 4 time steps"):
        R.pack_padded_sequence(x, [5, 2, 1])
    p = R.pack_padded_sequence(x, [3, 2, 1])
    with pytest.raises(ValueError, match="expected total_length to be at least the length of "
                                         "the longest sequence in input, but got "
                                         "total_length=2 and max sequence length being 3"):
        R.pad_packed_sequence(p, total_length=2)
    with pytest.raises(tg.ShapeError, match="pad_sequence: every sequence must have shape"):
        R.pad_sequence([tg.zeros((2, 3)), tg.zeros((2, 4))])
    with pytest.raises(ValueError, match="padding_side must be 'left' or 'right'"):
        R.pad_sequence([tg.zeros((2, 3))], padding_side="top")
