"""The clearance panel, its profile plot and the compare table follow the needle.

After a discrete change (a key, a click, a scenario, a test) they show the new report at once. While
the user drags the needle (its entry handle or the depth slider) the table and sentences refresh at
most ten times a second and the profile plot (a query along the whole line, then a plot) four times,
and both catch up with the last report when the drag pauses or ends; the 3D view, the needle's
colours and the overall level follow every frame. Text changing thirty times a second cannot be
read, and painting it cost a third of each frame."""
from __future__ import annotations

from PySide6 import QtCore

from .workers import Throttle

PLOT_SAMPLES = 61  # points per profile curve: 0.83 mm apart on a 50 mm needle, 8 px on the plot
LIVE_INTERVAL_MS = 100  # the table's and sentences' refresh period during a drag
PLOT_INTERVAL_MS = 250  # the profile plot's


class Readouts(QtCore.QObject):
    """Shows each report the window receives in the clearance panel and the compare table."""

    def __init__(self, window):
        super().__init__(window)
        self.win = window
        self.live = False
        self._throttle = Throttle(self._details, LIVE_INTERVAL_MS, self)
        self._plot = Throttle(self._profile_plot, PLOT_INTERVAL_MS, self)
        self._profile_of = (None, None)  # (line key, profile) of the last needle

    def show(self, report) -> None:
        """The overall level now; the table, sentences and plot now or, during a drag, throttled."""
        self.win.panel.show_level(report)
        for throttle in (self._throttle, self._plot):
            if self.live:
                throttle.submit(report)
            else:
                throttle.now(report)

    def set_live(self, on: bool) -> None:
        """A drag starts (True) or ends (False); at its end the last report is shown at once."""
        self.live = bool(on)
        if not on:
            self._throttle.flush()
            self._plot.flush()

    @property
    def current(self) -> bool:
        """Whether the panel shows the last report (nothing waits to be shown)."""
        return not (self._throttle.pending or self._plot.pending)

    def _details(self, report) -> None:
        win = self.win
        win.panel.show_details(report, win.session.scene)
        if win.session.pinned:
            win.compare.show_rows(win.session.compare_rows())

    def _profile_plot(self, report) -> None:
        self.win.panel.show_profile(*self.profile(report.needle), report)

    def profile(self, n):
        """The clearance profile of `n`'s line for the plot (it does not depend on the depth): the
        nearest structures the plot can show, every 50/60 mm of a 50 mm needle; computed again only
        when the line, the needle or the pack changes. Exact numbers are the report's."""
        engine = self.win.engine
        key = (engine, tuple(n.entry_lps), tuple(n.direction), n.length_mm, n.gauge_mm)
        if self._profile_of[0] != key:
            self._profile_of = (key, engine.profile(n, PLOT_SAMPLES, nearest=len(self.win.panel.PALETTE)))
        return self._profile_of[1]
