"""Convolutions as strided views + one GEMM (im2col); their transposes for backward."""
