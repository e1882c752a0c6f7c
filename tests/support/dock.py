"""What the dock's GUI tests share: waiting for its jobs, placing prompts with mouse events as
napari delivers them, and reading napari's notifications. Imported by tests under
``tests/gui`` only (it needs napari); the ``dock`` fixture is in ``tests/gui/conftest.py``."""

from __future__ import annotations

from napari.utils._test_utils import read_only_mouse_event
from napari.utils.interactions import (
    mouse_move_callbacks,
    mouse_press_callbacks,
    mouse_release_callbacks,
)
from napari.utils.notifications import notification_manager

PLUGIN, WIDGET = "napari-sam2", "SAM 2 tracking"
JOB_TIMEOUT = 120_000  # ms; generous for a loaded CI machine


def wait_idle(qtbot, widget) -> None:
    qtbot.waitUntil(lambda: not widget.runner.busy, timeout=JOB_TIMEOUT)


def mouse(layer, kind: str, position, modifiers=(), dragging=False) -> None:
    event = read_only_mouse_event(
        type=kind,
        position=tuple(position),
        modifiers=list(modifiers),
        button=1,
        is_dragging=dragging,
        dims_displayed=[1, 2],
    )
    {"mouse_press": mouse_press_callbacks, "mouse_move": mouse_move_callbacks}.get(
        kind, mouse_release_callbacks
    )(layer, event)


def click(widget, frame: int, y: float, x: float, modifiers=()) -> None:
    """A click with the Points button's mode, as napari delivers it to the clicks layer."""
    widget.viewer.dims.set_current_step(0, frame)
    widget.prompt_section.points_button.click()
    layer = widget.layers.points
    mouse(layer, "mouse_press", (frame, y, x), modifiers)
    mouse(layer, "mouse_release", (frame, y, x), modifiers)


def drag_box(widget, frame: int, corner0, corner1) -> None:
    widget.viewer.dims.set_current_step(0, frame)
    widget.prompt_section.box_button.click()
    layer = widget.layers.boxes
    mouse(layer, "mouse_press", (frame, *corner0))
    mouse(layer, "mouse_move", (frame, *corner1), dragging=True)
    mouse(layer, "mouse_release", (frame, *corner1))


def written_frames(widget) -> list[int]:
    data = widget.layers.labels.data
    return [t for t in range(data.shape[0]) if data[t].any()]


def messages(severity: str | None = None) -> list[str]:
    return [
        str(n.message)
        for n in notification_manager.records
        if severity is None or str(n.severity) == severity
    ]
