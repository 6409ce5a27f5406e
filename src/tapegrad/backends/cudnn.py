"""``torch.backends.cudnn``: tapegrad uses no cuDNN; the flags are kept and change nothing."""
import contextlib

enabled = True          #: accepted, no effect: tapegrad never calls cuDNN
benchmark = False       #: accepted, no effect: there is no kernel choice to benchmark
benchmark_limit = 10    #: accepted, no effect
deterministic = False   #: accepted, no effect: tapegrad's kernels are deterministic
allow_tf32 = True       #: accepted, no effect: no TF32 convolutions


def is_available():
    """False: tapegrad has no cuDNN kernels."""
    return False


def version():
    """None: no cuDNN is linked."""
    return None


@contextlib.contextmanager
def flags(enabled=False, benchmark=False, benchmark_limit=10, deterministic=False,
          allow_tf32=True):
    """Set the flags inside a ``with`` block and restore them after (no effect on results)."""
    g = globals()
    names = ("enabled", "benchmark", "benchmark_limit", "deterministic", "allow_tf32")
    saved = {k: g[k] for k in names}
    g.update(zip(names, (enabled, benchmark, benchmark_limit, deterministic, allow_tf32)))
    try:
        yield
    finally:
        g.update(saved)
