"""Sorting and selection ops (sort, topk, median, quantile, ...)."""
