"""``dcf``: training-free RGB-T discriminative correlation filter with pixel/feature/response fusion."""
