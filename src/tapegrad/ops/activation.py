"""Activation functions (tg.nn.functional): relu6, leaky_relu, gelu, silu, log_softmax and the rest."""
