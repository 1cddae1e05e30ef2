"""Building the /diagnostics message the nodes publish."""
from __future__ import annotations

from typing import Any, Mapping

from diagnostic_msgs.msg import DiagnosticArray, KeyValue


def diagnostic_array(status: Any, values: Mapping[str, str], errors: Mapping[str, int],
                     stamp: Any) -> DiagnosticArray:
    """A DiagnosticArray holding ``status`` with ``values`` and one ``error: <cause>`` entry
    per kind of bad input (keys cut to 200 characters)."""
    entries = dict(values)
    for cause, count in errors.items():
        entries[f"error: {cause}"[:200]] = str(count)
    status.values = [KeyValue(key=k, value=v) for k, v in entries.items()]
    array = DiagnosticArray()
    array.header.stamp = stamp
    array.status = [status]
    return array
