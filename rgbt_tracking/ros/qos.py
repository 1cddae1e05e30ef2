"""QoS profiles for the nodes' subscriptions, chosen by name in the parameter file."""
from __future__ import annotations

from rclpy.qos import (
    HistoryPolicy,
    QoSProfile,
    ReliabilityPolicy,
    DurabilityPolicy,
)

QOS_NAMES = ("sensor_data", "reliable")


def qos_profile(name: str, depth: int = 5) -> QoSProfile:
    """``sensor_data``: best effort, keep last ``depth`` (accepts reliable and best-effort
    publishers); ``reliable``: reliable, keep last ``depth`` (only reliable publishers).

    Raises:
        ValueError: unknown name (the message lists the valid ones).
    """
    if name not in QOS_NAMES:
        raise ValueError(f"unknown QoS '{name}'; expected one of {QOS_NAMES}")
    reliability = (ReliabilityPolicy.BEST_EFFORT if name == "sensor_data"
                   else ReliabilityPolicy.RELIABLE)
    return QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=int(depth),
                      reliability=reliability, durability=DurabilityPolicy.VOLATILE)
