"""A small timeline plot painted with QPainter: one line per object over frames.

Why not matplotlib: the plot needs lines, ticks, a legend, markers and a click, which QPainter
does in ~300 lines that repaint in well under a millisecond for thousands of frames; matplotlib
would add a large dependency (and its Qt backend's start-up cost, ~0.5 s) to a plugin that
napari already gives everything else it needs. The widget follows the Qt palette, hence
napari's theme, unless :meth:`TimelinePlot.set_theme` says otherwise.

Used twice by the dock: object score (confidence) per frame with the frames where an object
is probably lost marked in red, and area (or another measurement) over time. Clicking or
dragging on the plot emits ``frame_clicked(frame)`` so the viewer can jump there.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
from qtpy.QtCore import QPointF, QRectF, QSize, Qt, Signal
from qtpy.QtGui import QColor, QMouseEvent, QPainter, QPaintEvent, QPen, QPolygonF
from qtpy.QtWidgets import QSizePolicy, QToolTip, QWidget

from napari_sam2._palette import object_color
from napari_sam2._qt.plot_scale import format_value, nice_ticks, to_qcolor

__all__ = ["LOST_COLOR", "TimelinePlot", "nice_ticks", "to_qcolor"]  # re-exported helpers

LOST_COLOR = "#e5322d"
_LANE = 5  # height in pixels of one object's lane of lost-frame ticks
_MAX_LANES = 8  # beyond this many objects, lost frames share one lane

Series = Mapping[int, tuple[Sequence[int] | np.ndarray, Sequence[float] | np.ndarray]]


class TimelinePlot(QWidget):
    """Per-object values over frames: lines, lost-frame marks, the current frame, a legend.

    Signals:
        frame_clicked (int): the frame under a left click or drag on the plot.

    The x range is ``set_frame_range`` if given, else the frames in the data; the y range
    fits the finite values (and 0 and the threshold line, if any). NaN values leave gaps.
    """

    frame_clicked = Signal(int)
    #: shown instead of empty axes
    empty_text = "no data yet"

    def __init__(
        self, parent: QWidget | None = None, *, y_label: str = "", include_zero: bool = True
    ) -> None:
        super().__init__(parent)
        self._series: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        self._colors: dict[int, QColor] = {}
        self._names: dict[int, str] = {}
        self._lost: dict[int, np.ndarray] = {}
        self._current: int | None = None
        self._frame_range: tuple[int, int] | None = None
        self._threshold: float | None = None
        self._y_label = y_label
        self._include_zero = include_zero
        self._theme: dict[str, QColor] = {}
        self._last_emitted: int | None = None
        self.setMouseTracking(True)
        self.setMinimumSize(160, 90)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        self.setCursor(Qt.CursorShape.PointingHandCursor)

    # -- public API ---------------------------------------------------------------------

    def set_series(
        self,
        series: Series,
        colors: Mapping[int, Any] | None = None,
        lost: Mapping[int, Iterable[int]] | None = None,
        names: Mapping[int, str] | None = None,
    ) -> None:
        """Replace the data.

        Arguments:
            series: ``{object_id: (frame_indices, values)}``; NaN values leave a gap.
            colors: ``{object_id: colour}`` (anything :func:`to_qcolor` takes); objects
                without one get their default colour (:func:`napari_sam2._palette.object_color`).
            lost: ``{object_id: frames}`` where the object is probably lost (red ticks).
            names: ``{object_id: legend text}``; default ``"#<id>"``.
        """
        self._series = {}
        for obj_id, (frames, values) in series.items():
            x = np.asarray(frames, dtype=np.int64).ravel()
            y = np.asarray(values, dtype=np.float64).ravel()
            if x.shape != y.shape:
                raise ValueError(f"object {obj_id}: {x.size} frame indices but {y.size} values")
            order = np.argsort(x, kind="stable")
            self._series[int(obj_id)] = (x[order], y[order])
        self._lost = {
            int(k): np.unique(np.asarray(list(v), dtype=np.int64)) for k, v in (lost or {}).items()
        }
        self._names = {int(k): str(v) for k, v in (names or {}).items()}
        self._colors = {}
        self.set_colors(colors or {})

    def set_colors(self, colors: Mapping[int, Any]) -> None:
        """Set or change object colours (e.g. when the Labels layer's colormap changes)."""
        self._colors.update({int(k): to_qcolor(v) for k, v in colors.items()})
        for obj_id in self.object_ids():
            if obj_id not in self._colors:
                self._colors[obj_id] = QColor(object_color(obj_id))
        self.update()

    def set_current_frame(self, frame: int | None) -> None:
        """Draw the vertical current-frame line at ``frame`` (None: no line)."""
        frame = None if frame is None else int(frame)
        if frame != self._current:
            self._current = frame
            self.update()

    def set_frame_range(self, start: int | None, stop: int | None = None) -> None:
        """Show frames ``start .. stop - 1`` (e.g. the whole video); None: fit the data."""
        if start is None or stop is None:
            self._frame_range = None
        else:
            self._frame_range = (int(start), max(int(start) + 1, int(stop)))
        self.update()

    def set_threshold(self, value: float | None) -> None:
        """A dashed horizontal line at ``value`` (e.g. object score 0); None removes it."""
        self._threshold = None if value is None else float(value)
        self.update()

    def set_y_label(self, text: str) -> None:
        self._y_label = str(text)
        self.update()

    def set_theme(
        self, background: Any = None, foreground: Any = None, current: Any = None
    ) -> None:
        """Override the palette colours (None: follow the palette, hence napari's theme)."""
        self._theme = {
            key: to_qcolor(value)
            for key, value in (("bg", background), ("fg", foreground), ("cur", current))
            if value is not None
        }
        self.update()

    def clear(self) -> None:
        self.set_series({})

    def object_ids(self) -> list[int]:
        return sorted(set(self._series) | set(self._lost))

    @property
    def current_frame(self) -> int | None:
        return self._current

    def frame_limits(self) -> tuple[int, int]:
        """``(first, last)`` frame on the x axis."""
        if self._frame_range is not None:
            return self._frame_range[0], self._frame_range[1] - 1
        frames = [x for x, _ in self._series.values() if x.size]
        frames += [f for f in self._lost.values() if f.size]
        if not frames:
            return 0, 1
        low = int(min(f.min() for f in frames))
        high = int(max(f.max() for f in frames))
        return low, max(high, low + 1)

    def plot_rect(self) -> QRectF:
        """The data area in widget coordinates (without axes, legend and lost lanes)."""
        metrics = self.fontMetrics()
        ticks = self._y_ticks()
        label_w = max((metrics.horizontalAdvance(format_value(t)) for t in ticks), default=10)
        left = label_w + 10 + (metrics.height() + 2 if self._y_label else 0)
        top = metrics.height() + 8
        bottom = metrics.height() + 8 + self._lanes_height()
        return QRectF(
            left, top, max(10.0, self.width() - left - 10), max(10.0, self.height() - top - bottom)
        )

    def x_for_frame(self, frame: float) -> float:
        """The widget x coordinate of ``frame``."""
        rect = self.plot_rect()
        first, last = self.frame_limits()
        return rect.left() + (float(frame) - first) / (last - first) * rect.width()

    def frame_at(self, x: float) -> int | None:
        """The frame nearest to widget x coordinate ``x``; None left or right of the plot."""
        rect = self.plot_rect()
        if not rect.left() - 6 <= x <= rect.right() + 6:
            return None
        first, last = self.frame_limits()
        frame = first + (x - rect.left()) / rect.width() * (last - first)
        return int(min(max(round(frame), first), last))

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt API
        return QSize(320, 150)

    # -- mouse ----------------------------------------------------------------------------

    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802 - Qt API
        if event.button() == Qt.MouseButton.LeftButton:
            self._last_emitted = None
            self._emit_at(event.position().x())
        super().mousePressEvent(event)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:  # noqa: N802 - Qt API
        if event.buttons() & Qt.MouseButton.LeftButton:
            self._emit_at(event.position().x())
        else:
            self._show_values(event)
        super().mouseMoveEvent(event)

    def _emit_at(self, x: float) -> None:
        frame = self.frame_at(x)
        if frame is not None and frame != self._last_emitted:
            self._last_emitted = frame
            self.frame_clicked.emit(frame)

    def _show_values(self, event: QMouseEvent) -> None:
        """Tooltip with each object's value at the frame under the cursor."""
        frame = self.frame_at(event.position().x())
        if frame is None or not self._series:
            QToolTip.hideText()
            return
        lines = [f"frame {frame}"]
        for obj_id in self.object_ids():
            x, y = self._series.get(obj_id, (np.empty(0), np.empty(0)))
            hit = np.flatnonzero(x == frame)
            value = format_value(float(y[hit[0]])) if hit.size else "–"
            flag = "  (lost)" if frame in self._lost.get(obj_id, np.empty(0)) else ""
            lines.append(f"{self._name(obj_id)}: {value}{flag}")
        QToolTip.showText(event.globalPosition().toPoint(), "\n".join(lines), self)

    # -- painting -------------------------------------------------------------------------

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 - Qt API
        painter = QPainter(self)
        try:
            painter.setRenderHint(QPainter.RenderHint.Antialiasing)
            self._paint(painter)
        finally:
            painter.end()

    def _paint(self, painter: QPainter) -> None:
        bg, fg = self._colour("bg"), self._colour("fg")
        painter.fillRect(self.rect(), bg)
        rect = self.plot_rect()
        grid = QColor(fg)
        grid.setAlpha(40)
        if not self._series and not self._lost:  # no axes without data: they would mean nothing
            painter.setPen(fg)
            flags = Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap
            painter.drawText(QRectF(self.rect()).adjusted(8, 4, -8, -4), flags, self.empty_text)
            return
        self._paint_axes(painter, rect, fg, grid)
        painter.save()
        painter.setClipRect(rect.adjusted(-3, -3, 3, 3))
        if self._threshold is not None:
            pen = QPen(fg, 1, Qt.PenStyle.DashLine)
            painter.setPen(pen)
            y = self._y_for(self._threshold, rect)
            painter.drawLine(QPointF(rect.left(), y), QPointF(rect.right(), y))
        for obj_id in self.object_ids():
            self._paint_series(painter, rect, obj_id)
        painter.restore()
        self._paint_lost_lanes(painter, rect)
        self._paint_current(painter, rect)
        self._paint_legend(painter, rect, fg)

    def _colour(self, key: str) -> QColor:
        if key in self._theme:
            return self._theme[key]
        palette = self.palette()
        if key == "bg":
            return palette.color(palette.ColorRole.Base)
        if key == "fg":
            return palette.color(palette.ColorRole.Text)
        current = QColor(self._colour("fg"))  # the current frame: text colour, a bit muted
        current.setAlpha(190)
        return current

    def _name(self, obj_id: int) -> str:
        return self._names.get(obj_id, f"#{obj_id}")

    def _lanes(self) -> list[list[int]]:
        """Objects per lane of lost-frame ticks: one lane each, or one shared lane."""
        objects = [o for o in self.object_ids() if self._lost.get(o, np.empty(0)).size]
        return [[o] for o in objects] if len(objects) <= _MAX_LANES else [objects]

    def _lanes_height(self) -> int:
        lanes = len(self._lanes()) if self._lost else 0
        return lanes * (_LANE + 1) + (3 if lanes else 0)

    def _y_limits(self) -> tuple[float, float]:
        finite = [y[np.isfinite(y)] for _, y in self._series.values()]
        finite = [f for f in finite if f.size]
        extra = ([0.0] if self._include_zero else []) + (
            [self._threshold] if self._threshold is not None else []
        )
        values = [float(f.min()) for f in finite] + [float(f.max()) for f in finite] + extra
        if not values:
            return 0.0, 1.0
        low, high = min(values), max(values)
        if high - low < 1e-12:
            low, high = low - 1.0, high + 1.0
        pad = 0.15 * (high - low)  # lines never run along the plot's border
        return low - (pad if low < 0 or not self._include_zero else 0.0), high + pad

    def _y_ticks(self) -> list[float]:
        low, high = self._y_limits()
        max_ticks = max(3, int(self.height() / 35))
        return [t for t in nice_ticks(low, high, max_ticks) if low <= t <= high]

    def _y_for(self, value: float, rect: QRectF) -> float:
        low, high = self._y_limits()
        return rect.bottom() - (value - low) / (high - low) * rect.height()

    def _paint_axes(self, painter: QPainter, rect: QRectF, fg: QColor, grid: QColor) -> None:
        metrics = self.fontMetrics()
        first, last = self.frame_limits()
        max_x_ticks = max(2, int(rect.width() / 60))
        for tick in nice_ticks(first, last, max_x_ticks, integer=True):
            x = self.x_for_frame(tick)
            painter.setPen(grid)
            painter.drawLine(QPointF(x, rect.top()), QPointF(x, rect.bottom()))
            painter.setPen(fg)
            painter.drawLine(QPointF(x, rect.bottom()), QPointF(x, rect.bottom() + 3))
            text = f"{int(tick)}"
            width = metrics.horizontalAdvance(text)
            baseline = self.height() - 4
            painter.drawText(QPointF(x - width / 2, baseline), text)
        for tick in self._y_ticks():
            y = self._y_for(tick, rect)
            painter.setPen(grid)
            painter.drawLine(QPointF(rect.left(), y), QPointF(rect.right(), y))
            painter.setPen(fg)
            text = format_value(tick)
            width = metrics.horizontalAdvance(text)
            painter.drawText(QPointF(rect.left() - 5 - width, y + metrics.ascent() / 2 - 1), text)
        painter.setPen(fg)
        painter.drawRect(rect)
        if self._y_label:
            painter.save()
            painter.translate(metrics.height() - 2, rect.center().y())
            painter.rotate(-90)
            width = metrics.horizontalAdvance(self._y_label)
            painter.drawText(QPointF(-width / 2, 0), self._y_label)
            painter.restore()

    def _paint_series(self, painter: QPainter, rect: QRectF, obj_id: int) -> None:
        x, y = self._series.get(obj_id, (np.empty(0), np.empty(0)))
        color = self._colors.get(obj_id, QColor(object_color(obj_id)))
        pen = QPen(color, 1.8)
        pen.setCapStyle(Qt.PenCapStyle.RoundCap)
        pen.setJoinStyle(Qt.PenJoinStyle.RoundJoin)
        painter.setPen(pen)
        painter.setBrush(color)
        finite = np.isfinite(y)
        # split into runs of consecutive finite values
        breaks = np.flatnonzero(np.diff(finite.astype(np.int8)) != 0) + 1
        for run in np.split(np.arange(x.size), breaks):
            if not run.size or not finite[run[0]]:
                continue
            points = [QPointF(self.x_for_frame(x[i]), self._y_for(y[i], rect)) for i in run]
            if len(points) == 1:
                painter.drawEllipse(points[0], 2.0, 2.0)
            else:
                painter.drawPolyline(QPolygonF(points))
        lost = self._lost.get(obj_id)
        if lost is not None and lost.size and x.size:
            painter.setPen(QPen(QColor(LOST_COLOR), 1.2))
            painter.setBrush(Qt.BrushStyle.NoBrush)
            hit = np.isin(x, lost) & finite
            for i in np.flatnonzero(hit):
                painter.drawEllipse(
                    QPointF(self.x_for_frame(x[i]), self._y_for(y[i], rect)), 3.0, 3.0
                )

    def _paint_lost_lanes(self, painter: QPainter, rect: QRectF) -> None:
        """Red ticks under the plot at every lost frame, one lane per object (swatch at left)."""
        lanes = self._lanes()
        if not lanes or not lanes[0]:
            return
        red = QColor(LOST_COLOR)
        first, last = self.frame_limits()
        tick_w = max(1.0, rect.width() / max(1, last - first + 1) * 0.8)
        for k, lane in enumerate(lanes):
            top = rect.bottom() + 3 + k * (_LANE + 1)
            if len(lane) == 1:
                painter.fillRect(QRectF(rect.left() - 4, top, 3, _LANE), self._colors[lane[0]])
            for obj_id in lane:
                for frame in self._lost.get(obj_id, np.empty(0)):
                    if first <= frame <= last:
                        x = self.x_for_frame(frame)
                        painter.fillRect(QRectF(x - tick_w / 2, top, tick_w, _LANE), red)

    def _paint_current(self, painter: QPainter, rect: QRectF) -> None:
        if self._current is None:
            return
        first, last = self.frame_limits()
        if not first <= self._current <= last:
            return
        x = self.x_for_frame(self._current)
        color = self._colour("cur")
        painter.setPen(QPen(color, 1.5))
        painter.drawLine(QPointF(x, rect.top()), QPointF(x, rect.bottom() + self._lanes_height()))
        text = str(self._current)
        metrics = self.fontMetrics()
        width = metrics.horizontalAdvance(text) + 6
        box = QRectF(x - width / 2, rect.top() + 1, width, metrics.height())
        box.moveLeft(min(max(box.left(), rect.left()), rect.right() - width))
        painter.fillRect(box, color)
        painter.setPen(self._colour("bg"))
        painter.drawText(box, Qt.AlignmentFlag.AlignCenter, text)

    def _paint_legend(self, painter: QPainter, rect: QRectF, fg: QColor) -> None:
        """Colour swatches and names along the top, left to right; '+N' when they do not fit."""
        metrics = self.fontMetrics()
        entries = [(self._colors[o], self._name(o)) for o in self.object_ids()]
        if any(v.size for v in self._lost.values()):
            entries.append((QColor(LOST_COLOR), "lost"))
        x, y = rect.left(), rect.top() - metrics.height() - 3
        more = metrics.horizontalAdvance("+000")
        painter.setPen(fg)
        for k, (color, name) in enumerate(entries):
            width = 12 + metrics.horizontalAdvance(name) + 10
            if x + width > rect.right() - (more if k < len(entries) - 1 else 0):
                painter.drawText(QPointF(x, y + metrics.ascent()), f"+{len(entries) - k}")
                break
            painter.fillRect(QRectF(x, y + metrics.height() / 2 - 4, 9, 9), color)
            painter.drawText(QPointF(x + 12, y + metrics.ascent()), name)
            x += width
