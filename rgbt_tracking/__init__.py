"""rgbt_tracking: single-object tracking through synchronised RGB and thermal cameras.

The algorithms are plain Python (numpy / torch / OpenCV) and import no ROS; the ROS 2
nodes in :mod:`rgbt_tracking.ros` are thin wrappers around them.

>>> from rgbt_tracking import build_tracker, list_trackers
>>> tracker = build_tracker("dcf", device="cpu", fusion="response")
"""
from rgbt_tracking.api import build_tracker, list_trackers

__all__ = ["build_tracker", "list_trackers"]
__version__ = "0.1.0"
