"""``tg.linalg``: linear algebra by PyTorch's names (inv, det, solve, vector_norm, ...)."""
