"""``torch.backends.cuda``: the TF32 and attention-kernel switches, kept and without effect
(tapegrad's GPU products are CuPy's, in the inputs' dtype; its attention has one kernel)."""
from .. import cuda as _cuda


class _MatmulFlags:
    """``torch.backends.cuda.matmul``: ``allow_tf32`` and the reduced-precision flags."""

    def __init__(self):
        self.allow_tf32 = False
        self.allow_fp16_reduced_precision_reduction = True
        self.allow_bf16_reduced_precision_reduction = True

    def __repr__(self):
        return f"<tg.backends.cuda.matmul: allow_tf32={self.allow_tf32} (no effect)>"


matmul = _MatmulFlags()
_sdp = {"flash": True, "mem_efficient": True, "math": True, "cudnn": True}


def is_built():
    """True when tapegrad can run on CUDA (CuPy installed and a GPU seen)."""
    return _cuda.is_available()


def enable_flash_sdp(enabled):
    """Accepted, no effect: ``F.scaled_dot_product_attention`` has one implementation."""
    _sdp["flash"] = bool(enabled)


def enable_mem_efficient_sdp(enabled):
    """Accepted, no effect (see ``enable_flash_sdp``)."""
    _sdp["mem_efficient"] = bool(enabled)


def enable_math_sdp(enabled):
    """Accepted, no effect (see ``enable_flash_sdp``)."""
    _sdp["math"] = bool(enabled)


def enable_cudnn_sdp(enabled):
    """Accepted, no effect (see ``enable_flash_sdp``)."""
    _sdp["cudnn"] = bool(enabled)


def flash_sdp_enabled():
    """The value last given to ``enable_flash_sdp`` (True at first)."""
    return _sdp["flash"]


def mem_efficient_sdp_enabled():
    """The value last given to ``enable_mem_efficient_sdp`` (True at first)."""
    return _sdp["mem_efficient"]


def math_sdp_enabled():
    """The value last given to ``enable_math_sdp`` (True at first)."""
    return _sdp["math"]


def cudnn_sdp_enabled():
    """The value last given to ``enable_cudnn_sdp`` (True at first)."""
    return _sdp["cudnn"]
