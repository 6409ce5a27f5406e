"""Elementwise math beyond arithmetic: trig, hyperbolic, erf, rounding, floor-divide, remainder, lerp, nan handling."""
