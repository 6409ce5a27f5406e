"""The device seam's structure: every array-module function the ops and engine call exists
in CuPy's namespace; op files never bind the CPU's module globally; the core imports
nothing above it (dependencies point one way)."""
import ast
import pathlib

import pytest

import tapegrad

PKG = pathlib.Path(tapegrad.__file__).parent
#: CPU-only code: numba kernels and the seam itself
CPU_ONLY = {"backend", "graph/_vm.py", "graph/fusion.py"}
MODULE_CALLS = {"xp_of", "array_module", "module_for"}


def _sources():
    for path in sorted(PKG.rglob("*.py")):
        rel = path.relative_to(PKG).as_posix()
        if rel.split("/")[0] in CPU_ONLY or rel in CPU_ONLY:
            continue
        yield rel, ast.parse(path.read_text())


def _is_module_expr(node):
    """``xp``, ``<anything>.xp``, ``xp_of(...)``, ``backend.array_module(...)``..."""
    if isinstance(node, ast.Name):
        return node.id == "xp"
    if isinstance(node, ast.Attribute):
        return node.attr == "xp" and not (isinstance(node.value, ast.Name)
                                          and node.value.id == "backend")
    if isinstance(node, ast.Call):
        f = node.func
        name = f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) \
            else None
        return name in MODULE_CALLS
    return False


def _array_module_names():
    """{dotted name after the module: [file:line, ...]} over the package's sources."""
    found = {}
    for rel, tree in _sources():
        for node in ast.walk(tree):
            if not isinstance(node, ast.Attribute):
                continue
            chain = []
            base = node
            while isinstance(base, ast.Attribute) and not _is_module_expr(base):
                chain.append(base.attr)
                base = base.value
            if chain and _is_module_expr(base):
                found.setdefault(".".join(reversed(chain)), []).append(f"{rel}:{node.lineno}")
    # keep the longest chains only (xp.linalg.qr, not also xp.linalg)
    names = set(found)
    return {k: v for k, v in found.items() if not any(n.startswith(k + ".") for n in names)}


def test_the_scan_finds_the_ops_array_functions():
    names = _array_module_names()
    for expected in ("exp", "zeros", "linalg.solve", "concatenate", "where", "take_along_axis"):
        assert expected in names, expected


def test_every_array_function_the_ops_call_exists_in_cupy():
    cupy = pytest.importorskip("cupy")   # imports without a GPU; in the test extra
    missing = []
    for name, where in sorted(_array_module_names().items()):
        obj = cupy
        for part in name.split("."):
            obj = getattr(obj, part, None)
            if obj is None:
                missing.append(f"{name} (used at {', '.join(where[:3])})")
                break
    assert not missing, "not in CuPy's namespace:\n" + "\n".join(missing)


def test_op_files_never_bind_the_cpu_module_globally():
    bound = []
    for rel, tree in _sources():
        if not rel.startswith("ops/"):
            continue
        for node in tree.body:
            if isinstance(node, ast.Assign) and any(
                    isinstance(t, ast.Name) and t.id in ("xp", "np") for t in node.targets):
                bound.append(f"{rel}:{node.lineno}")
    assert not bound, f"module-level array module in op files: {bound}"


def test_the_core_imports_nothing_above_it():
    upward = []
    for rel, tree in _sources():
        if not rel.startswith("core/"):
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.level >= 2 and (
                    node.module not in (None, "backend") or node.module is None and
                    any(a.name != "backend" for a in node.names)):
                upward.append(f"{rel}:{node.lineno} from {'.' * node.level}{node.module}")
            if isinstance(node, ast.ImportFrom) and node.level == 0 and \
                    (node.module or "").startswith("tapegrad") and \
                    not node.module.startswith(("tapegrad.core", "tapegrad.backend")):
                upward.append(f"{rel}:{node.lineno} from {node.module}")
    assert not upward, upward
