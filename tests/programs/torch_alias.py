"""Make ``import torch`` give tapegrad for the duration of a ``with`` block.

    with torch_is_tapegrad():
        runpy.run_path("program.py")      # import torch, torch.nn as nn, ... -> tapegrad

Every ``torch.X.Y`` import is answered with the module ``tapegrad.X.Y`` itself (an import
hook first in ``sys.meta_path``), so ``torch.nn.modules.rnn.LSTM is torch.nn.LSTM`` holds
and no tapegrad file runs twice; a submodule tapegrad lacks is PyTorch's ModuleNotFoundError
(``No module named 'torch.onnx'``). On leaving, the real torch modules already imported are
put back and the aliases removed, so tests using PyTorch before and after are unaffected.
"""
import contextlib
import importlib
import importlib.abc
import importlib.util
import sys


class _TapegradAsTorch(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Finds ``torch`` and ``torch.*`` and loads them as the matching tapegrad modules."""

    def __init__(self):
        self.found, self.specs = {}, {}

    def find_spec(self, name, path=None, target=None):
        if name != "torch" and not name.startswith("torch."):
            return None
        real = "tapegrad" + name[len("torch"):]
        try:
            module = importlib.import_module(real)
        except ModuleNotFoundError as e:
            if e.name is not None and real.startswith(e.name):   # tapegrad has no such module
                return None
            raise
        self.found[name] = module
        return importlib.util.spec_from_loader(name, self,
                                               is_package=hasattr(module, "__path__"))

    def create_module(self, spec):
        module = self.found.pop(spec.name)
        self.specs[spec.name] = module.__spec__   # importlib overwrites it with ``spec``
        return module

    def exec_module(self, module):
        """Nothing to run: the tapegrad module is already imported. Its own ``__spec__``
        goes back (importlib set the torch one), so nothing of the alias outlives it."""
        module.__spec__ = self.specs.pop(module.__spec__.name)


def _torch_modules():
    return {k: m for k, m in sys.modules.items() if k == "torch" or k.startswith("torch.")}


@contextlib.contextmanager
def torch_is_tapegrad():
    """Inside the block, ``import torch`` (and any ``torch.*``) gives tapegrad's modules."""
    saved = _torch_modules()
    for k in saved:
        del sys.modules[k]
    finder = _TapegradAsTorch()
    sys.meta_path.insert(0, finder)
    try:
        yield
    finally:
        sys.meta_path.remove(finder)
        for k in _torch_modules():
            del sys.modules[k]
        sys.modules.update(saved)
