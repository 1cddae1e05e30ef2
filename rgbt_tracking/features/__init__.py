"""Handcrafted image features computed in torch (CPU or CUDA): gradient histograms, intensity, colour."""
