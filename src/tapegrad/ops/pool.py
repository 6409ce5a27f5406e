"""Pooling: max/avg pooling as strided views, adaptive average pooling."""
