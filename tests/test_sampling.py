"""Random ops and factories (ops/sampling.py, creation.py) against PyTorch: signatures
(positional and keyword forms), shapes, dtypes, devices, gradients (zero, as PyTorch's),
errors, and the distributions themselves by moments and chi-square tests with fixed seeds
(each test's false-alarm rate is 1e-4 or less; the seeds make them deterministic)."""
import numpy as np
import pytest
import torch
from scipy import stats

import tapegrad as tg
from tapegrad.core.errors import ShapeError

from helpers import cuda_for_tests

P_MIN = 1e-4     # a chi-square p-value below this fails


def chi_square_p(counts, probs):
    """p-value of observed ``counts`` against category probabilities ``probs`` (categories
    expecting fewer than 5 draws are pooled into one, so the chi-square law holds)."""
    counts = np.asarray(counts, float)
    expected = np.asarray(probs, float) * counts.sum()
    assert counts[expected == 0].sum() == 0, "a zero-probability category was drawn"
    big = expected >= 5
    obs = np.append(counts[big], counts[~big].sum())
    exp = np.append(expected[big], expected[~big].sum())
    keep = exp > 0
    stat = ((obs[keep] - exp[keep]) ** 2 / exp[keep]).sum()
    return stats.chi2.sf(stat, keep.sum() - 1)


@pytest.fixture
def seeded():
    tg.manual_seed(1234)


@pytest.fixture
def gpu():
    with cuda_for_tests():
        yield tg.device("cuda:0")


# -- factories: PyTorch's forms ---------------------------------------------------------------
@pytest.mark.parametrize("call,shape,dtype", [
    (lambda m: m.zeros(size=(2, 3)), (2, 3), "float32"),
    (lambda m: m.zeros([2, 3]), (2, 3), "float32"),
    (lambda m: m.ones(2, 3, dtype=m.float64), (2, 3), "float64"),
    (lambda m: m.empty(()), (), "float32"),
    (lambda m: m.full(size=(2,), fill_value=3), (2,), "int64"),
    (lambda m: m.full((2,), True), (2,), "bool"),
    (lambda m: m.arange(end=5), (5,), "int64"),
    (lambda m: m.arange(start=1, end=5, step=2), (2,), "int64"),
    (lambda m: m.arange(1.0, 3), (2,), "float32"),
    (lambda m: m.linspace(start=0, end=1, steps=5), (5,), "float32"),
    (lambda m: m.eye(n=3, m=2), (3, 2), "float32"),
    (lambda m: m.rand(size=(2,)), (2,), "float32"),
    (lambda m: m.randn(2, 3, dtype=m.float64), (2, 3), "float64"),
    (lambda m: m.randint(10, (2, 2)), (2, 2), "int64"),
    (lambda m: m.randint(3, 10, (2, 2)), (2, 2), "int64"),
    (lambda m: m.randint(low=3, high=10, size=(2, 2)), (2, 2), "int64"),
    (lambda m: m.randint(high=10, size=(4,)), (4,), "int64"),
    (lambda m: m.randint(10, size=[1, 1]), (1, 1), "int64"),
    (lambda m: m.randint(3, 10, (2,), dtype=m.float32), (2,), "float32"),
    (lambda m: m.randperm(n=5), (5,), "int64"),
    (lambda m: m.zeros_like(input=m.ones(2)), (2,), "float32"),
    (lambda m: m.randint_like(m.ones(2), 5), (2,), "float32"),
    (lambda m: m.randint_like(m.ones(2), 3, 5), (2,), "float32"),
    (lambda m: m.randint_like(m.ones(2), low=3, high=5), (2,), "float32"),
    (lambda m: m.randint_like(m.ones(2), high=5), (2,), "float32"),
    (lambda m: m.rand_like(m.ones(2, 2), dtype=m.float64), (2, 2), "float64"),
    (lambda m: m.normal(0.0, 1.0, (2, 3)), (2, 3), "float32"),
    (lambda m: m.normal(mean=0.0, std=1.0, size=(2,), dtype=m.float64), (2,), "float64"),
    (lambda m: m.normal(m.ones(2), 1.0), (2,), "float32"),
    (lambda m: m.normal(0.0, m.ones(2, dtype=m.float64)), (2,), "float64"),
    (lambda m: m.normal(mean=m.ones(2, 1), std=m.ones(3)), (2, 3), "float32"),
    (lambda m: m.normal(m.ones(2), m.ones(2, dtype=m.float64)), (2,), "float32"),
])
def test_factory_forms_match_torch(call, shape, dtype):
    a, b = call(tg), call(torch)
    assert tuple(a.shape) == tuple(b.shape) == shape
    assert str(a.dtype) == dtype == str(b.dtype).replace("torch.", "")


def test_randint_bounds(seeded):
    x = tg.randint(10, (1, 1))                 # read the size as high before issue 15
    assert x.shape == (1, 1) and 0 <= int(x) < 10
    x = tg.randint(3, 5, (1000,)).numpy()
    assert set(x.tolist()) == {3, 4}
    y = tg.randint_like(tg.zeros(1000), 2).numpy()
    assert set(y.tolist()) == {0.0, 1.0}


def test_factories_require_grad():
    for t in (tg.empty(2, requires_grad=True), tg.normal(0.0, 1.0, (2,), requires_grad=True),
              tg.rand(size=(2,), requires_grad=True)):
        assert t.requires_grad and t.is_leaf


@pytest.mark.parametrize("call,kind,words", [
    (lambda: tg.zeros("a"), TypeError, "zeros(): argument 'size' must be a tuple of ints"),
    (lambda: tg.ones(2, "a"), TypeError, "ones(): argument 'size'"),
    (lambda: tg.zeros(2.5), TypeError, "zeros(): argument 'size'"),
    (lambda: tg.zeros(-1), ShapeError, "zeros(): Dimension size must be non-negative"),
    (lambda: tg.zeros(2, size=(2,)), TypeError, "zeros(): size given both"),
    (lambda: tg.zeros(2, foo=1), TypeError, "unexpected keyword argument 'foo'"),
    (lambda: tg.randint(10), TypeError, "randint() missing required argument 'size'"),
    (lambda: tg.randint(5, 3, (2,)), RuntimeError, "randint: expects 'low' to be less"),
    (lambda: tg.randint(size=(2,)), TypeError, "randint() missing required argument 'high'"),
    (lambda: tg.randint(0, 10, (2,), requires_grad=True), TypeError, "floating point"),
    (lambda: tg.rand_like(tg.tensor([1, 2])), TypeError, "rand(): expected a floating dtype"),
    (lambda: tg.arange(0, 5, 0), RuntimeError, "arange: step must be nonzero"),
    (lambda: tg.arange(5, 0, 1), RuntimeError, "inconsistent with step sign"),
    (lambda: tg.randperm(-1), RuntimeError, "randperm: n must be non-negative"),
])
def test_factory_errors(call, kind, words):
    with pytest.raises(kind) as info:
        call()
    assert words in str(info.value)


# -- multinomial ----------------------------------------------------------------------------
P = np.array([0.1, 0.0, 0.3, 0.6])


def test_multinomial_with_replacement_distribution(seeded):
    out = tg.multinomial(tg.tensor(P * 5), 20000, replacement=True)
    assert out.shape == (20000,) and out.dtype == np.int64
    assert chi_square_p(np.bincount(out.numpy(), minlength=4), P) > P_MIN


def test_multinomial_rows(seeded):
    w = np.array([[1.0, 1.0, 2.0], [0.0, 5.0, 0.0]], dtype=np.float32)
    out = tg.tensor(w).multinomial(4000, True).numpy()
    assert out.shape == (2, 4000)
    assert chi_square_p(np.bincount(out[0], minlength=3), w[0] / w[0].sum()) > P_MIN
    assert (out[1] == 1).all()


def test_multinomial_without_replacement(seeded):
    """The first draw follows p; the second follows sum_i p_i p_j / (1 - p_i) (j != i);
    no category repeats within a row."""
    rows = tg.multinomial(tg.tensor(np.tile(P, (6000, 1))), 2).numpy()
    assert (rows[:, 0] != rows[:, 1]).all()
    assert chi_square_p(np.bincount(rows[:, 0], minlength=4), P) > P_MIN
    second = np.array([sum(P[i] * P[j] / (1 - P[i]) for i in range(4) if i != j)
                       for j in range(4)])
    assert chi_square_p(np.bincount(rows[:, 1], minlength=4), second) > P_MIN


def test_multinomial_all_categories_and_zero_weights_last(seeded):
    """Asking for every category without replacement gives a permutation; categories of
    zero weight come after the others (what PyTorch 2.13 does; it does not raise)."""
    out = tg.multinomial(tg.tensor(P), 4).numpy()
    assert sorted(out.tolist()) == [0, 1, 2, 3] and out[-1] == 1
    ref = torch.multinomial(torch.tensor(P), 4)
    assert sorted(ref.tolist()) == [0, 1, 2, 3] and ref[-1] == 1


def test_multinomial_reproducible_with_a_generator():
    w = tg.tensor(P)
    a = tg.multinomial(w, 3, generator=tg.Generator(7))
    b = tg.multinomial(w, 3, generator=tg.Generator(7))
    assert a.tolist() == b.tolist()
    assert not tg.multinomial(tg.tensor(P, requires_grad=True), 2).requires_grad


@pytest.mark.parametrize("call,words", [
    (lambda: tg.multinomial(tg.ones(2, 2, 2), 1), "prob_dist must be 1 or 2 dim"),
    (lambda: tg.multinomial(tg.tensor(P), 0), "cannot sample n_sample <= 0 samples"),
    (lambda: tg.multinomial(tg.tensor(P), 5), "cannot sample n_sample > prob_dist.size(-1)"),
    (lambda: tg.multinomial(tg.tensor([-1.0, 2.0]), 1), "`inf`, `nan` or element < 0"),
    (lambda: tg.multinomial(tg.tensor([float("nan"), 2.0]), 1), "`inf`, `nan` or element < 0"),
    (lambda: tg.multinomial(tg.tensor([0.0, 0.0]), 1, True), "sum of probabilities <= 0"),
    (lambda: tg.multinomial(tg.tensor([[1.0, 1.0], [0.0, 0.0]]), 1), "sum of probabilities"),
])
def test_multinomial_errors(call, words):
    with pytest.raises(RuntimeError) as info:
        call()
    assert words in str(info.value)
    with pytest.raises(TypeError):
        tg.multinomial(tg.tensor([1, 2]), 1)


# -- bernoulli ------------------------------------------------------------------------------
def test_bernoulli_tensor_probabilities(seeded):
    p = np.array([0.0, 0.2, 0.5, 0.9, 1.0], dtype=np.float32)
    draws = tg.bernoulli(tg.tensor(np.tile(p, (20000, 1)))).numpy()
    assert draws.dtype == np.float32 and set(np.unique(draws)) <= {0.0, 1.0}
    means = draws.mean(0)
    assert means[0] == 0 and means[-1] == 1
    np.testing.assert_allclose(means, p, atol=4.5 * np.sqrt(0.25 / 20000))


def test_bernoulli_scalar_p_and_method(seeded):
    x = tg.zeros(20000, dtype=tg.float64)
    draws = x.bernoulli(0.3)
    assert draws.dtype == np.float64 and abs(float(draws.mean()) - 0.3) < 0.015
    assert x.tolist() == [0.0] * 20000                  # the input is only a shape
    assert abs(float(tg.bernoulli(x, p=0.7).mean()) - 0.7) < 0.015


def test_random_ops_have_zero_gradients_as_torch():
    for name, tg_call, t_call in [
            ("bernoulli", lambda p: tg.bernoulli(p), lambda p: torch.bernoulli(p)),
            ("poisson", lambda p: tg.poisson(p), lambda p: torch.poisson(p)),
            ("normal", lambda p: tg.normal(p, p), lambda p: torch.normal(p, p))]:
        p = tg.tensor([0.5, 0.25], requires_grad=True)
        pt = torch.tensor([0.5, 0.25], requires_grad=True)
        y, yt = tg_call(p), t_call(pt)
        assert y.requires_grad == yt.requires_grad is True, name
        y.sum().backward()
        yt.sum().backward()
        assert p.grad.tolist() == pt.grad.tolist() == [0.0, 0.0], name
    m = tg.tensor([[0.0], [1.0]], requires_grad=True)
    s = tg.tensor([1.0, 2.0, 3.0], requires_grad=True)
    g = tg.grad(tg.normal(m, s).sum(), [m, s], create_graph=True)
    assert g[0].shape == m.shape and g[1].shape == s.shape
    assert not g[0].numpy().any() and not g[1].numpy().any()


@pytest.mark.parametrize("call,kind,words", [
    (lambda: tg.bernoulli(tg.tensor([1, 0])), TypeError, "bernoulli(): expected a floating"),
    (lambda: tg.bernoulli(tg.tensor([0.5]), 1.5), RuntimeError, "expects p to be in [0, 1]"),
    (lambda: tg.bernoulli(tg.tensor([1.5])), RuntimeError, "probabilities of input"),
    (lambda: tg.poisson(tg.tensor([1, 2])), TypeError, "poisson(): expected a floating"),
    (lambda: tg.poisson(tg.tensor([-1.0])), RuntimeError, "invalid Poisson rate"),
    (lambda: tg.normal(tg.tensor([1.0]), tg.tensor([-1.0])), RuntimeError,
     "normal expects all elements of std >= 0.0"),
    (lambda: tg.normal(tg.tensor([1.0]), -2.0), RuntimeError, "normal expects std >= 0.0"),
    (lambda: tg.normal(0.0, -2.0, (2,)), RuntimeError, "normal expects std >= 0.0"),
    (lambda: tg.normal(1.0, 1.0), TypeError, "the size is required"),
    (lambda: tg.normal(tg.ones(2), 1.0, size=(2,)), TypeError, "size is only accepted"),
    (lambda: tg.normal(tg.tensor([1, 2]), 1.0), TypeError, "floating-point mean"),
    (lambda: tg.normal(tg.ones(3), tg.ones(4)), ShapeError, "cannot be broadcast"),
])
def test_random_op_errors(call, kind, words):
    with pytest.raises(kind) as info:
        call()
    assert words in str(info.value)


# -- normal -----------------------------------------------------------------------------------
def test_normal_moments(seeded):
    mean = tg.tensor([[-2.0], [3.0]], dtype=tg.float64)
    std = tg.tensor([0.5, 2.0, 0.0], dtype=tg.float64)
    n = 20000
    x = tg.normal(tg.tensor(np.broadcast_to(mean.numpy(), (2, n)).copy()), 1.0).numpy()
    assert abs(x[0].mean() + 2) < 0.04 and abs(x[1].std() - 1) < 0.03
    y = tg.normal(mean, std)
    assert y.shape == (2, 3) and y.numpy()[:, 2].tolist() == [-2.0, 3.0]   # std 0: the mean
    z = tg.normal(1.5, tg.full((n,), 2.0)).numpy()
    assert abs(z.mean() - 1.5) < 0.06 and abs(z.std() - 2) < 0.05
    assert stats.kstest(tg.normal(0.0, 1.0, (n,)).numpy(), "norm").pvalue > P_MIN


# -- poisson ------------------------------------------------------------------------------------
def _poisson_checks(draw, device=None):
    """Moments for small and large rates, and a chi-square against the pmf at rate 3."""
    n = 20000
    for lam in (0.0, 0.7, 3.0, 12.0, 250.0):
        x = draw(tg.full((n,), lam, dtype=tg.float64, device=device))
        assert x.dtype == np.float64 and x.device == tg.device(device or "cpu")
        v = x.cpu().numpy()
        assert (v == np.round(v)).all() and (v >= 0).all()
        se = np.sqrt(max(lam, 1e-12) / n)
        assert abs(v.mean() - lam) < 4.5 * se + 1e-12, lam
        if lam:
            assert abs(v.var() / lam - 1) < 0.06, lam
    for lam, top in ((3.0, 12), (30.0, 60)):     # both algorithms against the pmf
        v = draw(tg.full((n,), lam, device=device)).cpu().numpy().astype(int)
        probs = np.append(stats.poisson.pmf(np.arange(top), lam), stats.poisson.sf(top - 1, lam))
        counts = np.bincount(np.minimum(v, top), minlength=top + 1)
        assert chi_square_p(counts, probs) > P_MIN, lam


def test_poisson_distribution(seeded):
    _poisson_checks(tg.poisson)


def test_poisson_on_a_device_uses_uniform_draws(seeded, gpu):
    """A device generator has no Poisson sampler: the products / PTRS algorithms run."""
    assert getattr(tg.random.rng(None, gpu), "poisson", None) is None
    _poisson_checks(tg.poisson, "cuda:0")


# -- devices and generators -------------------------------------------------------------------
def test_random_ops_draw_on_the_input_device(gpu):
    tg.manual_seed(3)
    w = tg.tensor(P).to(gpu)
    a = tg.multinomial(w, 2)
    b = tg.bernoulli(tg.full((4,), 0.5).to(gpu))
    c = tg.normal(tg.zeros(3).to(gpu), 1.0)
    d = tg.poisson(tg.ones(3).to(gpu))
    e = tg.multinomial(w, 1000, True)
    for t in (a, b, c, d, e):
        assert t.device == gpu
    assert chi_square_p(np.bincount(e.cpu().numpy(), minlength=4), P) > P_MIN
    tg.manual_seed(3)
    assert tg.multinomial(w, 2).cpu().tolist() == a.cpu().tolist()
    gen = tg.Generator(device="cuda").manual_seed(5)
    first = tg.normal(tg.zeros(3).to(gpu), 1.0, generator=gen).cpu().tolist()
    gen.manual_seed(5)
    assert tg.normal(tg.zeros(3).to(gpu), 1.0, generator=gen).cpu().tolist() == first
    with pytest.raises(RuntimeError, match="generator of device cpu"):
        tg.bernoulli(tg.full((2,), 0.5).to(gpu), generator=tg.Generator(1))
