"""The ``main`` of every console-script node: spin until Ctrl-C, configuration errors as one
line on stderr and exit code 2 instead of a traceback."""
from __future__ import annotations

import sys
from typing import Callable, Optional, Sequence

import rclpy
from rclpy.exceptions import ParameterException
from rclpy.executors import ExternalShutdownException
from rclpy.node import Node


def spin_node(factory: Callable[[], Node], name: str,
              args: Optional[Sequence[str]] = None) -> None:
    """Create the node with ``factory`` and spin it until Ctrl-C or shutdown.

    Raises:
        SystemExit(2): a configuration error (bad parameter, unknown tracker, missing
            calibration or preset), after printing ``<name>: error: <what>``.
    """
    rclpy.init(args=args)
    node = None
    try:
        node = factory()
        rclpy.spin(node)
    except (KeyboardInterrupt, ExternalShutdownException):
        return
    except (ValueError, FileNotFoundError, ParameterException) as exc:
        print(f"{name}: error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    finally:
        if node is not None:
            node.destroy_node()
        if rclpy.ok():
            rclpy.shutdown()
