"""Benchmark: region and habitus switches in the desktop window (issue 8: <= 1.5 s for a cached region).

    xvfb-run -a -s "-screen 0 1400x900x24" python bench/switch.py

Prints per switch the time of the switch itself (prepare or reuse the pack, replace the actors,
the first needle) and of the paint that follows, plus a second render for scale. The first visit
of a region builds (or reads) it; later visits reuse the prepared pack. Figures only.
"""
import os
import sys
import time

os.environ.setdefault("QT_QPA_PLATFORM", "xcb")
from PySide6 import QtWidgets

from needlesafe.app.qt.main_window import MainWindow

app = QtWidgets.QApplication.instance() or QtWidgets.QApplication(sys.argv)
win = MainWindow("gluteal")
win.show()
app.processEvents()
win.plotter.render()
app.processEvents()


def switch(region, hab):
    t0 = time.perf_counter()
    win.region.setCurrentText(region)
    win.habitus.setCurrentText(hab)
    win.region.activated.emit(win.region.currentIndex())
    t1 = time.perf_counter()
    app.processEvents()  # the one paint a user sees
    t2 = time.perf_counter()
    win.plotter.render()
    t3 = time.perf_counter()
    return t1 - t0, t2 - t1, t3 - t2


seq = [("shoulder", "average"), ("gluteal", "lean"), ("gluteal", "average"), ("shoulder", "average"),
       ("gluteal", "lean"), ("gluteal", "average"), ("shoulder", "average")]
for r,h in seq:
    a,b,c = switch(r,h)
    print(f"{r}:{h} switch {a:.2f} s + paint {b:.2f} s = {a+b:.2f} s (a second render {c:.3f} s)", flush=True)
win.close()
