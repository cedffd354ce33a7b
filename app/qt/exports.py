"""What the window writes: a PNG of the 3D view and the HTML report (both written whole or not at all)."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

from needlesafe.meshes.io import atomic_write_text

from ..report_html import build_report, section_for


def export_image(win, path) -> Path | None:
    """A PNG of the 3D view at `path`; None after an error dialog."""
    path = Path(path)
    win.plotter.render()
    try:
        if path.is_dir():
            raise OSError(f"{path} is a folder")
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".png", dir=path.parent)
        os.close(fd)
        try:
            win.plotter.screenshot(tmp)
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    except (OSError, ValueError) as exc:
        win.error(f"Could not write the image:\n{exc}")
        return None
    return path


def export_report(win, path) -> bool:
    """An HTML report of the current needle (and the pinned ones, and the last exercise score): the
    view, the clearance tables and the clearance-versus-depth plots."""
    s = win.session
    score = s.last_score.to_dict() if s.last_score is not None else None
    sections = [section_for(s.engine, "Current needle", s.needle, score)] + [
        section_for(s.engine, f"Pinned needle {k}", n) for k, n in enumerate(s.pinned, start=1)
    ]
    with tempfile.TemporaryDirectory() as tmp:
        png = export_image(win, Path(tmp) / "view.png")
        image = png.read_bytes() if png is not None else None
    title = f"NeedleSafe report: {s.exercise.title if s.exercise else s.scene.name}"
    try:
        atomic_write_text(Path(path), build_report(title, s.scene.name, sections, image))
    except OSError as exc:
        win.error(f"Could not write the report:\n{exc}")
        return False
    win.statusBar().showMessage(f"Report written to {path}", 5000)
    return True
