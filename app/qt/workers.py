"""Work off the GUI thread, and input coalescing: one cancellable task, one coalescer."""
from __future__ import annotations

from collections.abc import Callable

from PySide6 import QtCore

from needlesafe.meshes.errors import Cancelled


class Task(QtCore.QThread):
    """Runs `fn(*args, progress=report)` off the GUI thread. `report(fraction)` emits `progress`
    (0-100) and returns False once `cancel()` was called, which `fn` answers by raising `Cancelled`
    (or simply returning). Emits exactly one of `done(result)`, `failed(message)`, `cancelled()`.
    `source` says what the task was started for, so a late result for another pack is dropped."""

    progress = QtCore.Signal(int)
    done = QtCore.Signal(object)
    failed = QtCore.Signal(str)
    cancelled = QtCore.Signal()

    def __init__(self, fn: Callable, *args, source=None, parent=None):
        super().__init__(parent)
        self.fn, self.args, self.source = fn, args, source
        self._cancel = False

    def cancel(self) -> None:
        self._cancel = True

    @property
    def is_cancelled(self) -> bool:
        return self._cancel

    def _report(self, fraction: float) -> bool:
        self.progress.emit(int(100 * fraction))
        return not self._cancel

    def run(self) -> None:
        try:
            result = self.fn(*self.args, progress=self._report)
        except Cancelled:
            self.cancelled.emit()
            return
        except Exception as exc:  # noqa: BLE001 - shown to the user as a dialog, never a traceback
            self.failed.emit(str(exc) or type(exc).__name__)
            return
        if self._cancel:
            self.cancelled.emit()
        else:
            self.done.emit(result)

    def stop(self) -> None:
        """Cancel and wait: a QThread destroyed while it runs aborts the whole process."""
        self.cancel()
        self.wait()


class Latest(QtCore.QObject):
    """Coalesces a burst of inputs (slider steps, mouse moves): `submit(value)` keeps only the latest
    value and applies `fn(value)` once, when the event queue is next empty, so the window never
    queues updates faster than it can draw them."""

    def __init__(self, fn: Callable, parent=None):
        super().__init__(parent)
        self.fn = fn
        self._pending = None
        self._queued = False

    def submit(self, value) -> None:
        self._pending = value
        if not self._queued:
            self._queued = True
            QtCore.QTimer.singleShot(0, self, self.flush)

    def flush(self) -> None:
        value, self._pending, self._queued = self._pending, None, False
        if value is not None:
            self.fn(value)


class Throttle(QtCore.QObject):
    """At most one `fn(value)` per `interval_ms`: `submit(value)` applies at once when the last
    application is older than the interval, else keeps only the latest value and applies it when the
    interval has passed, so the last value is always shown. `now(value)` applies at once."""

    def __init__(self, fn: Callable, interval_ms: int, parent=None):
        super().__init__(parent)
        self.fn = fn
        self.interval_ms = int(interval_ms)
        self._pending = None
        self._clock = QtCore.QElapsedTimer()
        self._timer = QtCore.QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self.flush)

    @property
    def pending(self) -> bool:
        return self._pending is not None

    def submit(self, value) -> None:
        self._pending = value
        if not self._clock.isValid() or self._clock.elapsed() >= self.interval_ms:
            self.flush()
        elif not self._timer.isActive():
            self._timer.start(max(0, self.interval_ms - int(self._clock.elapsed())))

    def now(self, value) -> None:
        self._pending = value
        self.flush()

    def flush(self) -> None:
        """Apply the pending value now (nothing when there is none)."""
        self._timer.stop()
        value, self._pending = self._pending, None
        if value is not None:
            self._clock.start()
            self.fn(value)
