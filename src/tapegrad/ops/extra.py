"""More of PyTorch's tensor methods and functions (creation helpers, in-place variants,
comparisons, small math ops)."""
