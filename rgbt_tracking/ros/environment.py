"""Process environment for rclpy: DDS transport choice, and environments for child interpreters.

Nothing here imports rclpy, so :func:`configure_transport` can run before the first
``import rclpy`` of a process, and :func:`subprocess_env` works where ROS is not importable.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Dict, Mapping, Optional, Set

#: Fast DDS reads this variable when rclpy creates the process's DDS participant.
TRANSPORT_VARIABLE = "FASTDDS_BUILTIN_TRANSPORTS"
#: Transport set used unless the user chose another one.
DEFAULT_TRANSPORTS = "LARGE_DATA"

#: Set by ``ros_wheels_bootstrapper`` (the ROS 2 PyPI wheels) in the environment of the
#: interpreter it re-executes with LD_LIBRARY_PATH pointing at the wheels' libraries; while it
#: is set, the bootstrapper of any later interpreter does nothing.
BOOTSTRAP_GUARD_VARIABLE = "_ROS_WHEELS_BOOTSTRAP_COMPLETE"


def configure_transport() -> str:
    """Select Fast DDS's ``LARGE_DATA`` builtin transports unless the user set others.

    Camera images are large samples (a 960x540 rgb8 image is 1.5 MB). Fast DDS's default
    builtin transports split such a sample into many fragments and drop it whole when one
    fragment is lost; with the defaults of the PyPI wheels, a 960x540 rgb8 image published by
    one process was seen never to reach a subscriber in another. ``LARGE_DATA`` keeps UDP for
    participant discovery only and carries data over shared memory or TCP.

    Fast DDS reads ``FASTDDS_BUILTIN_TRANSPORTS`` once, when the DDS participant of the process
    is created, i.e. in ``rclpy.init()``: call this before that, in every process that talks
    to nodes exchanging images, and with the same value in all of them. A value already in the
    environment (e.g. ``DEFAULT`` or ``UDPv4``, or one exported by the venv's activate script)
    is left alone. Other RMW implementations ignore the variable.

    Returns:
        The value now in force.
    """
    return os.environ.setdefault(TRANSPORT_VARIABLE, DEFAULT_TRANSPORTS)


def _bootstrap_library_dirs() -> Set[str]:
    """Library folders that this interpreter's ROS wheels bootstrapper puts on LD_LIBRARY_PATH.

    The bootstrapper adds ``<sys.prefix>/lib`` and every ``site-packages/ros_*.libs`` folder
    (resolved) of the running interpreter; the same list is computed here.
    """
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    site_packages = Path(sys.prefix, "lib", version, "site-packages")
    folders = {os.path.join(sys.prefix, "lib")}
    if site_packages.is_dir():
        folders.update(
            str(path.resolve()) for path in site_packages.glob("ros_*.libs") if path.is_dir()
        )
    return folders


def subprocess_env(extra: Optional[Mapping[str, str]] = None) -> Dict[str, str]:
    """Environment for starting another Python interpreter that will import rclpy.

    A copy of ``os.environ`` that lets the child's own ROS wheels bootstrapper run:

    * ``_ROS_WHEELS_BOOTSTRAP_COMPLETE`` is removed. Inherited, it stops the bootstrapper of
      the child; with no usable LD_LIBRARY_PATH ``import rclpy`` then fails
      (``ImportError: librcl_action.so: cannot open shared object file``), and a child of
      another venv silently loads this venv's ROS libraries and misses its own (its
      vision_msgs type support, for one).
    * The folders this interpreter's bootstrapper added to ``LD_LIBRARY_PATH`` are removed
      (the variable itself when nothing else is left), so they cannot shadow the child's; the
      child's bootstrapper adds its own. Folders the user had set stay.

    Everything else is kept, ``FASTDDS_BUILTIN_TRANSPORTS``, ``RMW_IMPLEMENTATION`` and
    ``ROS_DOMAIN_ID`` included, so the child joins the same graph over the same transports.
    When the guard is not set (no bootstrapper ran, e.g. ROS from apt), LD_LIBRARY_PATH is
    copied unchanged.

    Args:
        extra: Variables to set in the returned environment, applied last.

    Returns:
        A new dictionary; ``os.environ`` is not modified.
    """
    env = dict(os.environ)
    if env.pop(BOOTSTRAP_GUARD_VARIABLE, None) is not None and "LD_LIBRARY_PATH" in env:
        added = _bootstrap_library_dirs()
        parts = env["LD_LIBRARY_PATH"].split(os.pathsep)
        kept = [part for part in parts if part and part not in added]
        if kept:
            env["LD_LIBRARY_PATH"] = os.pathsep.join(kept)
        else:
            del env["LD_LIBRARY_PATH"]
    if extra:
        env.update(extra)
    return env
