"""Losses (reductions 'mean'/'sum'/'none'), written as composites of stable primitives."""
