"""PyTorch programs run unchanged on tapegrad (issue 17).

Each program in tests/programs/ is written in PyTorch's idiom (``import torch``,
``torch.nn as nn``, ``torch.nn.functional as F``, ``torch.optim``...). It runs first on real
PyTorch, which shows the program itself is right, then with ``import torch`` giving tapegrad
(tests/programs/torch_alias.py), to completion, and its losses must fall in both.
"""
import importlib
import runpy
import sys
from contextlib import contextmanager, nullcontext

import pytest
import torch

import tapegrad
from programs.corpus import text, write_corpus
from programs.torch_alias import torch_is_tapegrad

PROGRAMS = __import__("pathlib").Path(__file__).resolve().parent / "programs"


#: the global flags the programs set (gpt.py: TF32 on, as nanoGPT does), per library
FLAGS = [("backends.cuda.matmul", "allow_tf32"), ("backends.cudnn", "allow_tf32")]


@contextmanager
def program_globals(lib):
    """Run a program on ``lib`` (torch or tapegrad) and put back what it changes globally:
    the random state and the backend flags of FLAGS. Real PyTorch also runs on one thread
    (steady timing beside the other test workers) and may set its backend flags even after
    ``torch.testing._internal`` froze them (importing it calls
    ``torch.backends.disable_global_flags()``, so a program's ``torch.backends.cudnn.
    allow_tf32 = True`` would raise PyTorch's RuntimeError in a suite that ran an OpInfo
    test first)."""
    import functools
    owners = [functools.reduce(getattr, path.split("."), lib) for path, _ in FLAGS]
    saved = [getattr(o, name) for o, (_, name) in zip(owners, FLAGS)]
    rng = lib.get_rng_state()
    unfrozen = getattr(lib.backends, "__allow_nonbracketed_mutation", None)
    threads = lib.get_num_threads()
    if lib is torch:
        torch.set_num_threads(1)
    try:
        with unfrozen() if unfrozen is not None else nullcontext():
            try:
                yield
            finally:
                for o, (_, name), v in zip(owners, FLAGS, saved):
                    setattr(o, name, v)
    finally:
        lib.set_rng_state(rng)
        if lib is torch:
            torch.set_num_threads(threads)


def run(name, argv, on_tapegrad):
    """Run ``tests/programs/<name>.py`` as a script module and return its ``main(argv)``."""
    path = str(PROGRAMS / f"{name}.py")
    lib = tapegrad if on_tapegrad else torch
    with program_globals(lib), (torch_is_tapegrad() if on_tapegrad else nullcontext()):
        ns = runpy.run_path(path, run_name="program")
        assert ns["torch"] is lib
        return ns["main"](argv)


def falls(losses, k=3):
    """The mean of the last ``k`` losses is below the mean of the first ``k``."""
    return sum(losses[-k:]) / k < sum(losses[:k]) / k


# -- the alias ------------------------------------------------------------------------------
def test_alias_gives_tapegrad_modules_and_restores_torch():
    real = sys.modules["torch"]
    with torch_is_tapegrad():
        import torch as aliased
        import torch.nn.functional as F
        from torch.nn.modules.rnn import LSTM
        from torch.utils.data.distributed import DistributedSampler
        assert aliased is tapegrad and F is tapegrad.nn.functional
        assert LSTM is tapegrad.nn.LSTM and sys.modules["torch.nn.modules.rnn"] is \
            tapegrad.nn.modules.rnn
        assert DistributedSampler is tapegrad.utils.data.DistributedSampler
        with pytest.raises(ModuleNotFoundError, match="No module named 'torch.distributions'"):
            importlib.import_module("torch.distributions")
    assert sys.modules["torch"] is real and sys.modules["torch.nn"] is real.nn
    assert "torch.nn.modules.rnn" not in sys.modules or \
        sys.modules["torch.nn.modules.rnn"].LSTM is real.nn.LSTM


def test_program_globals_unfreeze_and_restore_pytorchs_flags():
    """The order dependence a full suite showed: after an OpInfo test imported
    torch.testing._internal (which freezes torch.backends' flags), gpt.py's
    ``torch.backends.cudnn.allow_tf32 = True`` raised. The runner allows it and undoes it."""
    was_frozen, before = torch.backends.flags_frozen(), torch.backends.cudnn.allow_tf32
    torch.backends.disable_global_flags()
    try:
        with program_globals(torch):
            torch.backends.cudnn.allow_tf32 = not before
        assert torch.backends.flags_frozen() and torch.backends.cudnn.allow_tf32 == before
        with program_globals(tapegrad):
            tapegrad.backends.cudnn.allow_tf32 = False
        assert tapegrad.backends.cudnn.allow_tf32 is True
    finally:
        setattr(torch.backends, "__allow_nonbracketed_mutation_flag", not was_frozen)
    for lib in (torch, tapegrad):   # a program's seed does not outlive it
        lib.manual_seed(7)
        expected = lib.rand(3).tolist()
        lib.manual_seed(7)
        with program_globals(lib):
            lib.manual_seed(0)
            lib.rand(5)
        assert lib.rand(3).tolist() == expected


# -- the programs ---------------------------------------------------------------------------
def test_polynomial_regression():
    for on_tapegrad in (False, True):
        r = run("regression", ["--max-steps", "2000"], on_tapegrad)
        assert r["losses"][-1] < 1e-3 and r["losses"][0] > 0.1, on_tapegrad
        assert max(abs(a - b) for a, b in zip(r["learned"], r["target"])) < 0.2


def test_sine_wave_lstm_with_lbfgs(tmp_path):
    for on_tapegrad in (False, True):
        r = run("sine_lstm", ["--steps", "2", "--future", "20", "--length", "60",
                              "--data", str(tmp_path / "traindata.pt")], on_tapegrad)
        assert len(r["losses"]) > 20 and falls(r["losses"]), on_tapegrad
        assert r["losses"][-1] < 0.02 and r["test_losses"][-1] < 0.02


@pytest.mark.parametrize("model,extra", [("LSTM", []), ("Transformer", ["--lr", "1"])])
def test_word_language_model(tmp_path, model, extra):
    data = write_corpus(str(tmp_path / "corpus"))
    for on_tapegrad in (False, True):
        r = run("word_lm", ["--data", data, "--model", model, "--epochs", "3",
                            "--save", str(tmp_path / "model.pt")] + extra, on_tapegrad)
        assert falls(r["losses"], k=5), (model, on_tapegrad)
        assert r["val_losses"][-1] < r["val_losses"][0] and r["test_loss"] < 2.8
        assert len(r["words"]) == 20


def test_convolutional_classifier_with_samplers(tmp_path):
    for on_tapegrad in (False, True):
        r = run("classifier", ["--epochs", "3", "--save-model", "--out-dir", str(tmp_path)],
                on_tapegrad)
        assert falls(r["losses"], k=5), on_tapegrad
        (loss0, _), *_, (loss1, accuracy) = r["tests"]
        assert loss1 < loss0 and accuracy > 0.5
        assert r["lr"] == pytest.approx(1.0 * 0.7 ** 3)


def test_gpt_with_adamw_groups_and_sampling(tmp_path):
    path = tmp_path / "input.txt"
    path.write_text(text(600))
    for on_tapegrad in (False, True):
        r = run("gpt", ["--text", str(path), "--max-iters", "60", "--eval-interval", "30",
                        "--out-dir", str(tmp_path)], on_tapegrad)
        (train0, val0), *_, (train1, val1) = r["evals"]
        assert falls(r["losses"], k=5) and train1 < train0 - 0.8 and val1 < val0 - 0.8
        assert r["sample"].startswith("t") and len(r["sample"]) == 61
        assert r["iter_num"] == 60


def test_models_print_as_pytorchs():
    """``print(model)`` of the programs' models reads the same (repeated blocks folded)."""
    def reprs():
        lm = runpy.run_path(str(PROGRAMS / "word_lm.py"), run_name="program")
        gpt = runpy.run_path(str(PROGRAMS / "gpt.py"), run_name="program")
        lm["torch"].manual_seed(0)
        return [repr(m) for m in (lm["RNNModel"]("LSTM", 50, 16, 16, 2, 0.1, True),
                                  lm["RNNModel"]("GRU", 50, 16, 8, 3, 0.0),
                                  lm["TransformerModel"](50, 16, 2, 32, 3, 0.1),
                                  gpt["GPT"](gpt["GPTConfig"](n_layer=3)))]
    theirs = reprs()
    with torch_is_tapegrad():
        ours = reprs()
    assert "(0-2): 3 x Block(" in ours[3] and "(0-2): 3 x TransformerEncoderLayer(" in ours[2]
    assert ours == theirs
