"""Sequence sources: synthetic RGB-T sequences, dataset readers and bag I/O."""
