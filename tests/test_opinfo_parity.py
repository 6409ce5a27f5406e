"""PyTorch's own OpInfo database as the oracle: every OpInfo entry whose op tapegrad has under
that name runs its samples (float64, at most opinfo.CAP = 12 per op) through tapegrad and torch,
comparing the forward, the VJP and the second-order VJP (tests/opinfo.py). Every sample
passes except those listed in EXCEPTIONS, each with its reason; the counts are the README's
and a test fails when they drift."""
import pathlib
import re

import pytest

import opinfo

ENTRIES = opinfo.entries()

#: (entry, sample index or "*") -> why tapegrad differs. The README lists the same table.
EXCEPTIONS = {
    ("index_fill", 5): "PyTorch bug: with a repeated index, the value's gradient counts each "
                       "filled element once per repetition; tapegrad counts each element once",
    ("linalg.norm.subgradients_at_zero", 0): "convention: the second derivative of a norm at "
                                             "zero is 0 in tapegrad (finite), NaN in PyTorch",
    ("linalg.norm.subgradients_at_zero", 2): "as above (p=0.5)",
    ("linalg.norm.subgradients_at_zero", 4): "as above (p=2)",
    ("linalg.norm.subgradients_at_zero", 7): "as above (p=-0.5)",
    ("linalg.norm.subgradients_at_zero", 8): "as above (p=-1)",
    ("linalg.norm.subgradients_at_zero", 9): "as above (p=-2)",
    ("linalg.norm.subgradients_at_zero", 10): "as above (p=-3.5)",
    ("nn.functional.silu.complex", "*"): "tapegrad has no complex dtypes",
    ("tensordot", 2): "PyTorch broadcasts contracted dims of size 1 against larger ones "
                      "(undocumented); tapegrad requires equal sizes, as NumPy's tensordot",
}

#: what the README reports; python tests/opinfo.py prints the current numbers
COUNTS = {"ops": 366, "samples": 2683, "passing": 2683 - 12}


def _excused(key, i):
    return (key, i) in EXCEPTIONS or (key, "*") in EXCEPTIONS


@pytest.mark.parametrize("key,info,fn", ENTRIES, ids=[e[0] for e in ENTRIES])
def test_opinfo_samples_match_pytorch(key, info, fn):
    failures = []
    for i, s in enumerate(opinfo.samples(info)):
        try:
            opinfo.run(fn, info, s)
            ok = True
        except Exception as e:   # noqa: BLE001 - reported below
            ok, why = False, f"sample {i}: {type(e).__name__}: {str(e)[:300]}"
        if ok and _excused(key, i):
            failures.append(f"sample {i} passes now: drop it from EXCEPTIONS")
        elif not ok and not _excused(key, i):
            failures.append(why)
    assert not failures, "\n".join(failures)


def test_counts_are_the_readmes():
    ops = len(ENTRIES)
    samples = sum(len(opinfo.samples(info)) for _, info, _ in ENTRIES)
    excused = sum(1 for key, info, _ in ENTRIES for i in range(len(opinfo.samples(info)))
                  if _excused(key, i))
    got = {"ops": ops, "samples": samples, "passing": samples - excused}
    assert got == COUNTS, f"update COUNTS and the README to {got}"
    readme = (pathlib.Path(__file__).resolve().parent.parent / "README.md").read_text()
    m = re.search(r"OpInfo: (\d[\d,]*) ops, (\d[\d,]*) samples, (\d[\d,]*) passing", readme)
    assert m, "the README states the OpInfo counts as 'OpInfo: N ops, M samples, K passing'"
    assert [int(g.replace(",", "")) for g in m.groups()] == [ops, samples, got["passing"]]
