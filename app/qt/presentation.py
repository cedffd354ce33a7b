"""Presentation mode (F11): full screen, a large high-contrast readout, every other panel hidden;
leaving it puts everything back as it was."""
from __future__ import annotations

from PySide6 import QtCore, QtGui, QtWidgets


class Presentation:
    def __init__(self, window):
        self.win = window
        self.state = None  # what to restore, while presenting

    @property
    def active(self) -> bool:
        return self.state is not None

    def set(self, on: bool) -> None:
        """Full screen with a large, high-contrast clearance readout; every other panel hidden."""
        win = self.win
        docks = [d for d in win.findChildren(QtWidgets.QDockWidget) if d.objectName() != "clearance_dock"]
        if on:
            self.state = {d: d.isVisible() for d in docks}
            self.state["font"] = win.panel.font()
            self.state["overall_font"] = win.panel.overall.font()
            self.state["background"] = win.plotter.background_color
            for d in docks:
                d.hide()
            big = QtGui.QFont(win.panel.font())
            big.setPointSize(max(16, big.pointSize() * 2))
            win.panel.setFont(big)
            win.panel.table.setFont(big)
            banner = QtGui.QFont(win.panel.overall.font())
            banner.setPointSize(big.pointSize() + 6)
            win.panel.overall.setFont(banner)
            win.panel.table.resizeRowsToContents()
            win.panel.fit_columns()
            win.panel.set_plot_text(big.pointSize() - 4)
            key = QtGui.QFont(self.state["font"])
            key.setPointSize(max(10, key.pointSize()))  # set explicitly, or the large panel font is inherited
            win.panel.legend.setFont(key)  # the key stays small: the table and the plot get the room
            # the larger text must still fit a 1280 x 800 screen: the plot gives up some height
            win.panel.plot.setMinimumHeight(110)
            win.plotter.set_background("black")
            # structure names are never cut: the name column fits them and the readout takes half the screen
            win.panel.table.horizontalHeader().setSectionResizeMode(0, QtWidgets.QHeaderView.ResizeToContents)
            self.state["geometry"] = win.geometry()
            screen = win.screen().geometry() if win.screen() else win.geometry()
            win.setGeometry(screen)  # also without a window manager to honour the full-screen state
            win.showFullScreen()
            self._fit_dock(screen.width())
        elif self.state:
            state, self.state = self.state, None
            geometry = state.pop("geometry")
            win.panel.setFont(state.pop("font"))
            win.panel.overall.setFont(state.pop("overall_font"))
            win.panel.table.setFont(win.panel.font())
            win.panel.fit_columns()
            win.panel.legend.setFont(win.panel.font())
            win.panel.set_plot_text(None)
            win.panel.plot.setMinimumHeight(200)
            win.panel.table.horizontalHeader().setSectionResizeMode(0, QtWidgets.QHeaderView.Stretch)
            win.resizeDocks([win.findChild(QtWidgets.QDockWidget, "clearance_dock")], [430], QtCore.Qt.Horizontal)
            win.plotter.set_background(state.pop("background"))
            for d, visible in state.items():
                d.setVisible(visible and (d is not win.compare_dock or bool(win.session.pinned)))
            win.showNormal()
            win.setGeometry(geometry)
        win.scene_view.repaint()

    def _fit_dock(self, screen_width: int) -> None:
        """The readout gets the width its table needs (every name whole, the status column in
        view), between 45 % and 65 % of the screen."""
        win = self.win
        t = win.panel.table
        t.resizeColumnsToContents()
        need = sum(t.columnWidth(c) for c in range(t.columnCount())) + t.verticalScrollBar().sizeHint().width() + 60
        width = int(min(max(need, 0.45 * screen_width), 0.65 * screen_width))
        win.resizeDocks([win.findChild(QtWidgets.QDockWidget, "clearance_dock")], [width], QtCore.Qt.Horizontal)
