"""Benchmarks, run side by side with PyTorch where a comparison applies."""
