"""The value a tracker returns for each frame."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, Literal, Optional, Tuple

import numpy as np

TrackState = Literal["tracking", "uncertain", "lost"]
TRACK_STATES: Tuple[str, ...] = ("tracking", "uncertain", "lost")


@dataclass
class TrackResult:
    """One frame's output.

    Attributes:
        box: (x, y, w, h) floats, top-left corner, pixels of the input images.
        score: confidence of the box; for ``dcf`` the fused peak response (about 0..1).
        state: "tracking", "uncertain" (weak response: the model is not updated) or
            "lost" (no trustworthy peak: the box is a prediction from the last good
            estimates, e.g. ``dcf`` coasts it along its recent motion).
        response: 2-D float32 response map over the search region, or None.
        info: tracker-specific diagnostics (per-modality weights, peak-to-sidelobe ratio...).
    """

    box: Tuple[float, float, float, float]
    score: float
    state: TrackState = "tracking"
    response: Optional[np.ndarray] = None
    info: Dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.state not in TRACK_STATES:
            raise ValueError(f"state must be one of {TRACK_STATES}, got {self.state!r}")
