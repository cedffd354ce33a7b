"""Benchmark: the desktop window's cold start, per-update cost and memory, in a real window.

    xvfb-run -a -s "-screen 0 1400x900x24" python bench/app.py [--pack shoulder] [--updates 60]

Prints: process start to first rendered frame; per needle update the engine's report, the
clearance-versus-depth profile, and the full update including the panel and a redraw (medians and
p95); peak resident memory. Figures only. Needs an X display (Xvfb is fine).
"""
from __future__ import annotations

import argparse
import os
import resource
import sys
import time

T_PROCESS = time.perf_counter()
os.environ.setdefault("QT_QPA_PLATFORM", "xcb")

import numpy as np  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pack", default="shoulder", help="pack to open (default: shoulder)")
    ap.add_argument("--updates", type=int, default=60)
    args = ap.parse_args(argv)
    from PySide6 import QtWidgets

    from needlesafe.app.main_window import MainWindow
    from needlesafe.geometry.placement import tilt
    from needlesafe.meshes.resolve import load_pack

    load_pack(args.pack)  # build the cache once so the cold start measures a normal start
    t0 = time.perf_counter()
    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication(sys.argv)
    win = MainWindow(args.pack)
    win.show()
    app.processEvents()
    win.plotter.render()
    app.processEvents()
    first_frame = time.perf_counter() - t0
    print(f"pack {win.scene.name}: {len(win.scene.structures)} structures, {win.scene.n_triangles:,} triangles")
    print(f"window creation to first rendered frame: {first_frame:.2f} s "
          f"(process start to first frame, imports included: {time.perf_counter() - T_PROCESS:.2f} s)")
    base = win.needle
    t_report, t_profile, t_full = [], [], []
    for k in range(args.updates):
        n = base.at_depth(min(base.length_mm, 5.0 + 0.5 * k))
        n = type(n)(n.entry_lps, tilt(n.direction, (0, 0, 1), 0.5 * k), n.depth_mm, n.length_mm, n.gauge_mm)
        t = time.perf_counter()
        win.engine.report(n)
        t_report.append(time.perf_counter() - t)
        t = time.perf_counter()
        win.engine.profile(n)
        t_profile.append(time.perf_counter() - t)
        t = time.perf_counter()
        win.set_needle(n)  # report + panel + plot + needle actors + render
        app.processEvents()
        t_full.append(time.perf_counter() - t)

    def fmt(ts):
        return f"median {1e3 * np.median(ts):.2f} ms, p95 {1e3 * np.percentile(ts, 95):.2f} ms"

    print(f"engine report: {fmt(t_report)}")
    print(f"clearance profile (121 depths): {fmt(t_profile)}")
    print(f"full update with redraw: {fmt(t_full)} -> {1.0 / np.median(t_full):.1f} updates/s")
    print(f"peak resident memory: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
    win.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
