"""Start a training script on N processes:

    python -m tapegrad.distributed.run -n 4 train.py [script args]
    python -m tapegrad.distributed.run -n 8 --hostfile hosts -m tapegrad.examples.digits \
        --distributed

It runs ``mpiexec -n N [-f hostfile] python -m tapegrad.distributed.run --as-rank
train.py ...`` with the mpiexec that the mpich wheel installed (``pip install
'tapegrad[mpi]'``), else the one next to this Python, else the first on PATH. Each rank
runs the script like ``python`` would, and when it ends with an uncaught exception or a
non-zero ``sys.exit`` status, the whole job ends at once with that status (MPI_Abort);
otherwise the other ranks would wait for it forever. ``--dry-run`` prints the command.
"""
import argparse
import os
import runpy
import shutil
import sys
import sysconfig


def find_mpiexec():
    """The path of mpiexec: the mpich wheel's, then this Python's scripts folder, then PATH.
    Raises FileNotFoundError saying how to install one."""
    try:
        from importlib.metadata import distribution, PackageNotFoundError
        try:
            for f in distribution("mpich").files or ():
                if f.name == "mpiexec" and f.parent.name == "bin":
                    path = str(f.locate())
                    if os.access(path, os.X_OK):
                        return os.path.realpath(path)
        except PackageNotFoundError:
            pass
    except ImportError:  # pragma: no cover - Python < 3.8
        pass
    scripts = os.path.join(sysconfig.get_path("scripts"), "mpiexec")
    if os.access(scripts, os.X_OK):
        return scripts
    found = shutil.which("mpiexec")
    if found:
        return found
    raise FileNotFoundError("mpiexec not found: pip install 'tapegrad[mpi]' installs MPICH's "
                            "(or install an MPI library that provides mpiexec)")


def command(argv):
    """The mpiexec command line for this launcher's arguments (everything from the script,
    or from ``-m module``, on belongs to the program)."""
    p = argparse.ArgumentParser(prog="python -m tapegrad.distributed.run",
                                usage="%(prog)s [-n N] [--hostfile F] [--dry-run] "
                                      "(script | -m module) [args]",
                                description=__doc__.split("\n\n")[0])
    p.add_argument("-n", "--nproc", type=int, default=1, help="number of processes (ranks)")
    p.add_argument("--hostfile", help="MPI host file: which machines, how many ranks each")
    p.add_argument("--dry-run", action="store_true", help="print the command, run nothing")
    i = 0
    while i < len(argv) and argv[i].startswith("-") and argv[i] != "-m":
        i += 1 if argv[i] in ("--dry-run", "-h", "--help") or "=" in argv[i] else 2
    a = p.parse_args(argv[:i])
    target = argv[i:]
    if a.nproc < 1:
        p.error(f"-n must be at least 1, got {a.nproc}")
    if not target or target == ["-m"]:
        p.error("give a script to run (or -m module)")
    cmd = [find_mpiexec(), "-n", str(a.nproc)]
    if a.hostfile:
        cmd += ["-f", a.hostfile]
    return cmd + [sys.executable, "-m", "tapegrad.distributed.run", "--as-rank"] + target, \
        a.dry_run


def run_rank(target):
    """Run ``target`` (script and arguments, or ``-m module ...``) as ``__main__`` in this
    rank; if it fails or exits non-zero while MPI is running, abort the job with its status."""
    if target[0] == "-m":
        sys.argv = target[1:]
        run = lambda: runpy.run_module(target[1], run_name="__main__", alter_sys=True)
    else:
        sys.argv = list(target)
        sys.path[0] = os.path.dirname(os.path.abspath(target[0]))
        run = lambda: runpy.run_path(target[0], run_name="__main__")
    try:
        run()
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) or e.code is None else 1
        if code:
            if not isinstance(e.code, int):
                print(e.code, file=sys.stderr)
            _abort(code)
        raise
    except BaseException:
        sys.excepthook(*sys.exc_info())     # tapegrad's hook aborts; the default one prints
        _abort(1)


def _abort(status):
    mpi = sys.modules.get("mpi4py.MPI")
    if mpi is not None and mpi.Is_initialized() and not mpi.Is_finalized():
        from .group import abort
        abort(status)
    sys.exit(status)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--as-rank"]:
        return run_rank(argv[1:])
    cmd, dry = command(argv)
    if dry:
        print(" ".join(cmd))
        return 0
    os.execv(cmd[0], cmd)


if __name__ == "__main__":
    sys.exit(main())
