"""The offer of real anatomy in the window: the banner while the atlas is missing, its download over a
real HTTP server on 127.0.0.1 (progress, verification), a failure's dialog with the manual route, a
cancel that keeps nothing half-written, and Not now."""
from __future__ import annotations

import pytest

from needlesafe.app import readout
from needlesafe.meshes.atlas.fetch import atlas_present
from needlesafe.meshes.atlas.sources import FILES
from tests.atlas_server import refused_url, serve_folder

pytestmark = pytest.mark.gui


@pytest.fixture
def banner(window, tmp_path, monkeypatch):
    """The window's banner pointed at an empty atlas folder; dialogs recorded instead of shown."""
    from needlesafe.app.qt import atlas_banner

    errors = []
    monkeypatch.setattr(atlas_banner.dialogs, "error", lambda _parent, message: errors.append(message))
    b = window.atlas_banner
    b.dest = tmp_path / "atlas"
    b.errors = errors
    return b


def test_banner_offers_the_atlas_when_missing(window, qtbot):
    b = window.atlas_banner
    assert not atlas_present()  # the tests' data folder is empty
    assert b.isVisible()
    assert b.label.text().strip() == readout.ATLAS_OFFER
    # the whole sentence fits: nothing cut off at the window's default size
    assert b.label.width() >= b.label.sizeHint().width()
    assert b.download_button.isVisible() and b.later_button.isVisible()
    qtbot.mouseClick(b.later_button, __import__("PySide6").QtCore.Qt.LeftButton)
    assert not b.isVisible()
    assert window.centralWidget().isVisible()


def test_download_from_a_local_server(banner, window, qtbot, atlas_source, monkeypatch):
    from needlesafe.app.qt import atlas_banner

    opened = []
    monkeypatch.setattr(atlas_banner, "_prepare", lambda name, progress: name)  # the build is tested elsewhere
    monkeypatch.setattr(window, "open_pack", opened.append)
    values = []
    with serve_folder(atlas_source) as url:
        banner.mirror = url
        banner.download()
        assert banner.progress is not None and banner.progress.isVisible()
        banner.task.progress.connect(values.append)
        qtbot.waitUntil(lambda: bool(opened) or bool(banner.errors), timeout=60000)
    assert banner.errors == []
    assert opened == ["atlas:gluteal:average"]
    assert atlas_present(banner.dest)
    assert all((banner.dest / f.name).stat().st_size == f.size for f in FILES)
    assert not banner.isVisible()
    assert values and max(values) == 100


def test_failed_download_shows_the_manual_route(banner, qtbot):
    banner.mirror = refused_url()
    banner.download()
    qtbot.waitUntil(lambda: bool(banner.errors), timeout=30000)
    (message,) = banner.errors
    assert "needlesafe atlas fetch --from" in message
    assert FILES[0].url in message  # where to get each file by hand
    assert banner.task is None and banner.progress is None
    assert not any(banner.dest.glob("*.glb"))
    assert banner.isVisible()  # still offered


def test_cancel_keeps_nothing_half_written(banner, window, qtbot, atlas_source, monkeypatch):
    from PySide6 import QtCore

    from needlesafe.app.qt import atlas_banner

    monkeypatch.setattr(atlas_banner, "_prepare", lambda name, progress: pytest.fail("built after a cancel"))
    with serve_folder(atlas_source) as url:
        banner.mirror = url
        banner.download()
        task = banner.task
        # the user presses Cancel during the first file: the dialog's button, at the first progress
        task.progress.connect(lambda v: v > 0 and task.cancel(), QtCore.Qt.DirectConnection)
        qtbot.waitUntil(lambda: banner.task is None, timeout=60000)
    assert banner.errors == []
    assert "cancelled" in window.statusBar().currentMessage()
    assert not atlas_present(banner.dest)
    for path in banner.dest.iterdir():  # only whole, verified files keep a final name
        if path.suffix == ".glb":
            f = next(f for f in FILES if f.name == path.name)
            assert path.stat().st_size == f.size
