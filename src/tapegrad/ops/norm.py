"""Normalisation: batch_norm, layer_norm, group_norm."""
