"""Optimizers and learning-rate schedulers (PyTorch's names and update rules).

``SGD(model.parameters(), lr=...)`` with ``step()``/``zero_grad()``, or the seed form
``SGD(learning_rate=...)`` with ``step(params)``/``zero_grad(params)``.
"""
from .optimizer import Optimizer, required
from .sgd import SGD
from .adam import Adam, AdamW
from .rmsprop import RMSprop, Adagrad
from . import lr_scheduler

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "lr_scheduler"]
