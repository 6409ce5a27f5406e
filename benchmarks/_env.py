"""Thread and wait-policy settings for every benchmark process, applied before NumPy or torch
is imported (this module imports neither), plus a description of the machine for RESULTS.md.

Both frameworks get the same thread count: OpenBLAS (NumPy's BLAS), OpenMP (torch's intra-op
pool, libgomp in the CPU wheel) and MKL (torch's BLAS) read it from the environment at load
time, and ``torch.set_num_threads`` is called with it again after import.

``OMP_WAIT_POLICY=PASSIVE`` makes idle OpenMP workers sleep instead of spin-waiting after a
parallel region; on a 2-core machine spinning workers of one library steal the cores the
other library's next call needs (see ``benchmarks.interference`` and RESULTS.md).
"""
import os
import platform
import sys

THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
DEFAULT_WAIT_POLICY = "PASSIVE"


def configure(threads=1, wait_policy=DEFAULT_WAIT_POLICY, blas=None):
    """Set the environment for ``threads`` threads (and TAPEGRAD_BLAS when ``blas`` is
    given). Returns the variables it set.

    Must run before NumPy/torch are imported; if NumPy already is, the BLAS pool was sized
    at its import, so this only warns (the harness's entry points always come first)."""
    if threads == "default":    # each library's own: no thread variable set
        for name in THREAD_VARS + ("TAPEGRAD_NUM_THREADS",):
            os.environ.pop(name, None)
        settings = {}
    else:
        threads = int(threads)
        if threads < 1:
            raise ValueError(f"threads must be >= 1, got {threads}")
        if "numpy" in sys.modules or "torch" in sys.modules:
            print("benchmarks: warning: NumPy/torch already imported; thread settings may not "
                  "apply to their pools", file=sys.stderr)
        settings = {name: str(threads) for name in THREAD_VARS}
    if blas:
        settings["TAPEGRAD_BLAS"] = blas
    if wait_policy:
        settings["OMP_WAIT_POLICY"] = wait_policy
    else:
        os.environ.pop("OMP_WAIT_POLICY", None)
    os.environ.update(settings)
    return settings


def child_env():
    """The environment for a subprocess: ours (already configured), so it matches."""
    env = dict(os.environ)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


def configure_torch(threads):
    """Import torch (if installed) and give it ``threads`` intra- and inter-op threads
    ("default": leave its own)."""
    try:
        import torch
    except ImportError:
        return None
    if threads == "default":
        return torch
    torch.set_num_threads(int(threads))
    try:
        torch.set_num_interop_threads(int(threads))
    except RuntimeError:  # already set or already used: only allowed once per process
        pass
    return torch


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_info():
    """A dict describing the machine and libraries (imports NumPy and torch if present)."""
    import numpy as np
    info = {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "usable cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "os": platform.platform(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "blas": blas_version(np),
    }
    try:
        import tapegrad
        info["tapegrad GEMM"] = tapegrad.backend.blas() + \
            " (products of at least 2**21 multiply-adds; smaller ones: NumPy's)"
    except ImportError:
        pass
    try:
        import torch
        info["torch"] = torch.__version__
        info["torch threads"] = f"{torch.get_num_threads()} intra-op, " \
                                f"{torch.get_num_interop_threads()} inter-op"
    except ImportError:
        info["torch"] = "not installed"
    try:
        import micrograd  # noqa: F401
        from importlib.metadata import version
        info["micrograd"] = version("micrograd")
    except Exception:
        info["micrograd"] = "not installed"
    info["thread pools"] = thread_pools()
    try:
        info["load average"] = "%.2f %.2f %.2f" % os.getloadavg()
    except OSError:
        pass
    return info


def blas_version(np):
    try:
        cfg = np.show_config(mode="dicts")
        blas = cfg["Build Dependencies"]["blas"]
        return f"{blas.get('name')} {blas.get('version')}"
    except Exception:
        return "unknown"


def thread_pools():
    """The thread pools actually loaded in this process and their sizes (threadpoolctl)."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return "threadpoolctl not installed"
    parts = []
    for pool in threadpool_info():
        name = pool.get("internal_api") or pool.get("user_api")
        lib = os.path.basename(pool.get("filepath", ""))
        parts.append(f"{name} {pool.get('version') or ''} ({lib}): {pool.get('num_threads')}")
    return "; ".join(parts)
