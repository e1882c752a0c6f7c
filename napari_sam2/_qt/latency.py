"""How responsive napari stays: a QTimer probe that measures event-loop delay.

A timer asks to fire every ``interval_ms``; whenever the event loop is busy (painting, a
callback, the GIL held by a worker) it fires late. The lateness of each tick is the delay a user
would feel on a click or a slider drag at that moment.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
from qtpy.QtCore import QObject, Qt, QTimer


@dataclass(frozen=True)
class DelayReport:
    """Event-loop delays in milliseconds over one measurement."""

    samples: int
    median_ms: float
    p95_ms: float
    max_ms: float

    def __str__(self) -> str:
        return (
            f"GUI delay median {self.median_ms:.0f} ms, 95% {self.p95_ms:.0f} ms, "
            f"max {self.max_ms:.0f} ms"
        )


class EventLoopProbe(QObject):
    """Measures event-loop delay between :meth:`start` and :meth:`stop`."""

    def __init__(self, interval_ms: int = 10, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.interval = interval_ms / 1000
        self._timer = QTimer(self)
        self._timer.setTimerType(Qt.TimerType.PreciseTimer)
        self._timer.setInterval(interval_ms)
        self._timer.timeout.connect(self._tick)
        self._delays: list[float] = []
        self._last = 0.0

    @property
    def running(self) -> bool:
        return self._timer.isActive()

    def start(self) -> None:
        self._delays = []
        self._last = time.perf_counter()
        self._timer.start()

    def stop(self) -> DelayReport | None:
        """Stop and report (None when no tick happened)."""
        self._timer.stop()
        if not self._delays:
            return None
        delays = np.asarray(self._delays) * 1000
        return DelayReport(
            len(delays),
            float(np.median(delays)),
            float(np.percentile(delays, 95)),
            float(delays.max()),
        )

    def _tick(self) -> None:
        now = time.perf_counter()
        self._delays.append(max(0.0, now - self._last - self.interval))
        self._last = now
