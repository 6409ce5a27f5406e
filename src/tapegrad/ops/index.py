"""Gathering and scattering: cat, stack, split, index_select, gather, scatter, masked_fill, pad, one_hot."""
