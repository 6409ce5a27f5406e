"""Every public name of tapegrad has a docstring (issue 20): the reference pages of the
documentation site are generated from them.

The walk covers the public modules below: each one's ``__all__`` when it has one, otherwise
its names without a leading underscore that tapegrad defines (names imported from NumPy or
the standard library are theirs to document), and the public methods and properties of every
public class, Tensor's included. A method that overrides a documented one inherits its
docstring; an object exported under several names (``tg.abs`` and ``Tensor.absolute``) is
checked once, under the first name found.
"""
import importlib
import inspect
import types

import pytest

import tapegrad as tg

# The public modules, as ``tapegrad.<name>``. Optional ones (fft) are skipped when absent.
PUBLIC_MODULES = (
    "", "nn", "nn.functional", "nn.init", "nn.utils", "nn.utils.rnn", "nn.parallel",
    "nn.modules", "optim", "optim.lr_scheduler", "autograd", "autograd.profiler", "func",
    "linalg", "special", "fft", "amp", "cuda", "distributed", "utils", "utils.data",
    "utils.checkpoint", "utils.dlpack", "graph", "debug", "forward_ad", "safetensors",
    "serialization", "onnx", "backends", "accelerator", "functional", "random",
)

def _is_tapegrad(obj):
    mod = getattr(obj, "__module__", None) or ""
    if isinstance(obj, types.ModuleType):
        mod = obj.__name__
    return mod == "tapegrad" or mod.startswith("tapegrad.")


def _has_doc(obj):
    doc = getattr(obj, "__doc__", None)
    return isinstance(doc, str) and doc.strip() != ""


def _public_names(module):
    names = getattr(module, "__all__", None)
    if names is not None:
        return list(names)
    return [n for n in vars(module) if not n.startswith("_")]


def _class_members(cls):
    """(name, object) for the public methods, properties and nested classes ``cls`` defines
    or inherits from a tapegrad class, with ``doc`` true when it or an overridden one has a
    docstring."""
    out = []
    for name in dir(cls):
        if name.startswith("_"):
            continue
        owner = next((k for k in cls.__mro__ if name in vars(k)), None)
        if owner is None or not _is_tapegrad(owner):
            continue
        raw = vars(owner)[name]
        if isinstance(raw, (staticmethod, classmethod)):
            raw = raw.__func__
        if isinstance(raw, property):
            target = raw.fget
        elif inspect.isfunction(raw) or inspect.isclass(raw):
            target = raw
        else:
            continue            # data: dtypes, constants, defaults
        doc = _has_doc(raw) or any(_has_doc(vars(k)[name]) for k in cls.__mro__
                                   if name in vars(k) and k is not owner)
        out.append((f"{owner.__module__}.{owner.__qualname__}.{name}", target, raw, doc))
    return out


def walk():
    """{dotted name: has a docstring} for every public module, function, class, method and
    property, each object once (under the first name found)."""
    seen, found, classes = set(), {}, []

    def check(qualname, key, documented, obj):
        if id(key) not in seen:
            seen.add(id(key))
            found[qualname] = (documented, obj)

    for suffix in PUBLIC_MODULES:
        modname = "tapegrad" + ("." + suffix if suffix else "")
        try:
            module = importlib.import_module(modname)
        except ModuleNotFoundError as e:
            if e.name == modname:
                continue
            raise
        check(modname, module, _has_doc(module), module)
        for name in _public_names(module):
            obj = getattr(module, name)
            if isinstance(obj, types.ModuleType) or not _is_tapegrad(obj):
                continue
            if inspect.isclass(obj):
                classes.append(obj)
            elif not callable(obj):
                continue        # dtypes, constants, instances
            check(f"{modname}.{name}", obj, _has_doc(obj), obj)
    for cls in classes:
        for qualname, target, raw, documented in _class_members(cls):
            check(qualname, raw, documented, target)
    return found


def missing_docstrings():
    """The public names without a docstring, sorted."""
    return sorted(q for q, (documented, _) in walk().items() if not documented)


def test_every_public_name_has_a_docstring():
    missing = missing_docstrings()
    assert not missing, (f"{len(missing)} public names have no docstring:\n  "
                         + "\n  ".join(missing))


def test_the_walk_sees_the_api():
    """The walk reaches ops, Tensor methods and properties, layers, optimizers and
    schedulers (it is not vacuous), and flags a method without a docstring."""
    found = walk()
    assert len(found) > 1000
    objects = {id(obj) for _, obj in found.values()}
    import tapegrad.nn.functional as F
    for obj in (tg.sigmoid, F.cross_entropy, F.scaled_dot_product_attention, tg.linalg.svd,
                tg.Tensor.backward, tg.Tensor.grad.fget, tg.nn.Linear, tg.nn.Linear.forward,
                tg.optim.Adam, tg.optim.lr_scheduler.StepLR.get_lr, tg.utils.data.DataLoader,
                tg.amp.GradScaler, tg.func.jacrev):
        assert id(obj) in objects, obj

    class Undocumented(tg.nn.Module):
        def extra(self):
            return 1

        def forward(self, x):       # inherits Module.forward's docstring
            return x
    Undocumented.__module__ = "tapegrad.nn"
    flagged = {q.rsplit(".", 1)[-1] for q, _, _, doc in _class_members(Undocumented)
               if not doc}
    assert flagged == {"extra"}


def test_op_methods_take_the_op_docstring():
    """Tensor methods generated from registry ops carry the op's docstring, and every op
    has one (the op table and the reference pages show it)."""
    from tapegrad.core.registry import OPS
    for info in OPS.values():
        assert _has_doc(info.fn) and info.doc == info.fn.__doc__, info.name
        if info.method:
            assert getattr(tg.Tensor, info.name).__doc__ == info.fn.__doc__, info.name
