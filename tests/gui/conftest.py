"""GUI tests run in a real X window (pytest-xvfb starts Xvfb); never the offscreen platform."""
import os
import sys

os.environ["QT_QPA_PLATFORM"] = "xcb"
os.environ.setdefault("QT_API", "pyside6")
import tempfile

# the window remembers recent packs with QSettings: keep that out of the user's configuration
os.environ["XDG_CONFIG_HOME"] = tempfile.mkdtemp(prefix="needlesafe-config-")


import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _qt_messages_reach_the_log(request, qtbot):
    """pytest-qt keeps Qt's messages for the test report, but a qFatal aborts the process before
    any report is written. Print critical and fatal messages at once, past the output capture,
    so a CI log names the cause of an abort."""
    from PySide6 import QtCore

    capman = request.config.pluginmanager.getplugin("capturemanager")
    previous = None

    def handler(kind, context, message):
        if kind in (QtCore.QtMsgType.QtCriticalMsg, QtCore.QtMsgType.QtFatalMsg):
            with capman.global_and_fixture_disabled():
                sys.stderr.write(f"\nQt {kind.name}: {message}\n")
                sys.stderr.flush()
        if previous is not None:
            previous(kind, context, message)

    previous = QtCore.qInstallMessageHandler(handler)
    yield
    QtCore.qInstallMessageHandler(previous)


@pytest.fixture
def window(qtbot):
    """The default window, shown, active and drawn once; closed and deleted in order afterwards."""
    import gc

    from needlesafe.app.qt.main_window import MainWindow

    from .test_window import dispose

    win = MainWindow("default")
    win.show()
    qtbot.waitExposed(win)
    win.activateWindow()
    qtbot.waitActive(win)
    win.plotter.render()
    yield win
    win.close()
    dispose(win)
    del win
    gc.collect()
