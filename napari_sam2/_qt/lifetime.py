"""Connections from the viewer's long-lived session to short-lived widgets.

The controller and its job runner live as long as the viewer; a dock can be closed and opened
again. psygnal would keep calling a closed dock's methods (whose Qt objects are deleted), so
every such connection is undone when the widget is destroyed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from qtpy.QtCore import QObject


def connect_while_alive(owner: QObject, signal: Any, slot: Callable) -> None:
    """Connect a psygnal ``signal`` to ``slot`` until ``owner`` is destroyed."""
    signal.connect(slot)
    owner.destroyed.connect(lambda *_: signal.disconnect(slot))
