"""Confidence section: each object's score per frame on a timeline, probably-lost frames marked.

The score is SAM 2's object-score logit (> 0: the model judges the object present), which the
engine keeps for every frame; SAM 2's predicted IoU is not stored per frame, so it is not
shown. Frames under the threshold (0 by default) are marked in red; a click on the plot jumps
there.
"""

from __future__ import annotations

from qtpy.QtCore import Signal
from qtpy.QtWidgets import QGroupBox, QLabel, QVBoxLayout, QWidget

from napari_sam2._controller import TrackingController
from napari_sam2._qt.lifetime import connect_while_alive
from napari_sam2._qt.plots import TimelinePlot


class ConfidenceSection(QGroupBox):
    """A :class:`~napari_sam2._qt.plots.TimelinePlot` of the controller's scores; emits
    ``frame_clicked(frame)``."""

    frame_clicked = Signal(int)

    def __init__(self, controller: TrackingController, parent: QWidget | None = None) -> None:
        super().__init__("Confidence (object score per frame)", parent)
        self.controller = controller
        self.plot = TimelinePlot(y_label="object score", include_zero=True)
        self.plot.empty_text = "each object's score per frame appears here once it is tracked"
        self.plot.setMinimumHeight(110)
        self.lost_label = QLabel()
        self.lost_label.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.addWidget(self.plot)
        layout.addWidget(self.lost_label)
        self.plot.frame_clicked.connect(self.frame_clicked.emit)
        for signal in (
            controller.scores_changed,
            controller.objects_changed,
            controller.image_changed,
            controller.settings_changed,
        ):
            connect_while_alive(self, signal, self.refresh)
        self.refresh()

    def set_current_frame(self, frame: int | None) -> None:
        self.plot.set_current_frame(frame)

    def refresh(self) -> None:
        ctrl = self.controller
        series, lost = {}, {}
        for obj in ctrl.objects:
            scores = ctrl.scores.get(obj.id, {})
            if scores:
                frames = sorted(scores)
                series[obj.id] = (frames, [scores[f] for f in frames])
                lost[obj.id] = ctrl.lost_frames(obj.id)
        self.plot.set_series(
            series,
            colors={o.id: o.color for o in ctrl.objects},
            lost=lost,
            names={o.id: o.name for o in ctrl.objects},
        )
        self.plot.set_threshold(ctrl.settings.lost_below)
        if ctrl.image is not None:
            self.plot.set_frame_range(0, ctrl.image.num_frames)
        lines = [
            f"{ctrl.object(obj).name}: {_spans(frames)}" for obj, frames in lost.items() if frames
        ]
        self.lost_label.setText(
            "probably lost: " + "; ".join(lines) if lines else "no object looks lost"
        )
        self.lost_label.setVisible(bool(series))


def _spans(frames: list[int], limit: int = 6) -> str:
    """``[3, 4, 5, 9]`` as ``"3-5, 9"``."""
    spans: list[list[int]] = []
    for frame in frames:
        if spans and frame == spans[-1][1] + 1:
            spans[-1][1] = frame
        else:
            spans.append([frame, frame])
    text = [f"{a}-{b}" if b > a else str(a) for a, b in spans[:limit]]
    return ", ".join(text) + (" ..." if len(spans) > limit else "")
