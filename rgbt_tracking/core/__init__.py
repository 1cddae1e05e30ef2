"""Types and plumbing shared by every tracker: boxes, results, the tracker base, the registry."""
