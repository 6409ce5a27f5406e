"""Communication hooks for DistributedDataParallel.register_comm_hook (PyTorch's place):
``default_hooks.allreduce_hook`` (what DDP does without a hook) and
``default_hooks.fp16_compress_hook``."""
from . import default_hooks  # noqa: F401
