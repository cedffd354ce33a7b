"""Benchmark: the desktop window's needle update against a bare render of the same scene, in one run.

    xvfb-run -a -s "-screen 0 1400x900x24" python bench/app.py [--pack gluteal] [--updates 80]
    NEEDLESAFE_DATA=DIR xvfb-run -a ... python bench/app.py --pack atlas:interscapular   # largest atlas region

Measures, side by side in one real window (interleaved, so both see the same machine load):

(a) a needle update with redraw during a drag (`window.readouts.set_live(True)`, as a drag of the
    entry handle or the depth slider sets it): `window.session.set_needle(n)` then the event loop
    run until the window is drawn: the 3D view rendered once, the level shown, and the panel's table
    and sentences (ten a second) and profile plot (four a second) whenever their refresh falls due
    (this interleaved loop spaces updates wider than a real drag, so they fall due more often); the
    figures are MEANS, so those refreshes count in full. (a2) the same update after a discrete
    change (a key press: everything at once);
(b) a bare render of the same displayed scene: the 3D view asked to redraw with nothing changed, and
    the event loop run until it is drawn;
(c) the obvious alternative: a plain pyvista plotter drawing the engine's full meshes (skin
    translucent) at the same window size;
(d) the drag of (a) with the needle plane view shown (View > Show the needle plane), as a ratio to (a).

Both are synchronous and end with exactly what the user sees: the panels painted and the 3D view
rendered once. A window that renders on `plotter.interactor.update()` (one render, in the same pass as
the panels) is measured as it is; one that schedules nothing is rendered once with
`plotter.interactor.repaint()`. The renders per update are printed. `plotter.render()` followed by
the event loop is timed too, with its render count: pyvistaqt's `QtInteractor` (NEEDLESAFE_VIEW=qopengl)
renders twice that way (its frame event schedules a second paint); the native view renders once.

First frame and peak memory come from a child process started fresh (the region already cached), so
imports, the engine's index and the first render all count: process start to the first rendered frame,
then the child's peak resident memory after as many needle updates, and its resident memory after
1,100 and after 2,100 needle moves (flat when nothing leaks per move). Prints medians and p95, and
the means the last line uses; the last line is
`updates/s: N; update/bare-render: R; first frame: S s; peak memory: M MB`. Figures only.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

os.environ.setdefault("QT_QPA_PLATFORM", "xcb")
os.environ.setdefault("QT_API", "pyside6")

import numpy as np  # noqa: E402


def _rss_mb() -> float:
    """Resident memory of this process now (MB), from /proc (Linux)."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _needles(base, count):
    """`count` needles sweeping depth and angle from `base` (every one a real change)."""
    from needlesafe.geometry.placement import tilt

    out = []
    for k in range(count):
        n = base.at_depth(min(base.length_mm, 5.0 + 0.5 * (k % 60)))
        out.append(type(n)(n.entry_lps, tilt(n.direction, (0, 0, 1), 0.5 * (k % 40) - 10.0), n.depth_mm,
                           n.length_mm, n.gauge_mm))
    return out


def _open_window(pack):
    from PySide6 import QtWidgets

    from needlesafe.app.qt.main_window import MainWindow

    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication(sys.argv)
    win = MainWindow(pack)
    win.show()
    for _ in range(3):
        app.processEvents()
    win.plotter.interactor.repaint()
    app.processEvents()
    return app, win


def child(pack: str, updates: int) -> int:
    """Fresh process: time to the first rendered frame (from the start of the process and from the
    window's creation), peak memory after `updates` updates, and resident memory after 1,100 and
    after 2,100 needle moves (the first thousand warm caches up; a leak per move grows the second)."""
    from PySide6 import QtWidgets

    from needlesafe.app.qt.startup import show_window

    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication(sys.argv)
    t_window = time.perf_counter()
    win = show_window(pack)  # as `needlesafe gui` starts: the anatomy's first frame, then the engine
    first = time.time()
    window_to_frame = time.perf_counter() - t_window
    win.finish_start()
    app.processEvents()
    win.plotter.interactor.repaint()
    app.processEvents()
    ready = time.time()
    needles = _needles(win.needle, 2100)
    for n in needles[:updates]:
        win.session.set_needle(n)
        app.processEvents()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    for n in needles[updates:1100]:
        win.session.set_needle(n)
        app.processEvents()
    at_1100 = _rss_mb()
    for n in needles[1100:]:
        win.session.set_needle(n)
        app.processEvents()
    at_2100 = _rss_mb()
    print(json.dumps({"first_frame_at": first, "ready_at": ready, "window_to_frame": window_to_frame, "peak_mb": rss,
                      "rss_1100": at_1100, "rss_2100": at_2100}))
    win.close()
    return 0


def _stats(ts) -> str:
    return f"median {1e3 * np.median(ts):7.2f} ms, p95 {1e3 * np.percentile(ts, 95):7.2f} ms"


def _plain_pyvista(scene, size, camera, repeats: int):
    """Render times of a plain pyvista plotter showing the engine's full meshes (skin translucent)."""
    import pyvista as pv

    from needlesafe.app.render import to_polydata

    try:
        from needlesafe.app.theme import SKIN_OPACITY
    except ImportError:
        SKIN_OPACITY = 0.35
    pl = pv.Plotter(window_size=list(size), off_screen=False)
    for s in scene.structures:
        pl.add_mesh(to_polydata(s.vertices, s.faces), color=s.colour,
                    opacity=SKIN_OPACITY if s.role == "skin" else 1.0)
    pl.camera_position = camera
    pl.show(interactive=False, auto_close=False)
    pl.render()
    ts = []
    for _ in range(repeats):
        t = time.perf_counter()
        pl.render()
        ts.append(time.perf_counter() - t)
    pl.close()
    return ts


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pack", default="gluteal", help="pack to open (default: gluteal, the default region)")
    ap.add_argument("--updates", type=int, default=80)
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        return child(args.pack, args.updates)

    from needlesafe.meshes.resolve import load_pack

    scene = load_pack(args.pack)  # the region's cache is built before anything is timed
    started = time.time()
    proc = subprocess.run([sys.executable, os.path.abspath(__file__), "--child", "--pack", args.pack,
                           "--updates", str(args.updates)], capture_output=True, text=True, check=False)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        sys.stderr.write(proc.stderr[-3000:])
        raise SystemExit("the first-frame child failed")
    fresh = json.loads(lines[-1])
    first_frame = fresh["first_frame_at"] - started

    app, win = _open_window(args.pack)
    pl = win.plotter
    renders = [0]
    pl.ren_win.AddObserver("StartEvent", lambda *_: renders.__setitem__(0, renders[0] + 1))
    size = tuple(pl.ren_win.GetSize())
    n_tri = sum(len(s.faces) for s in scene.structures)
    print(f"pack {scene.name}: {len(scene.structures)} structures, {n_tri:,} engine triangles; "
          f"3D view {size[0]}x{size[1]} px")
    needles = _needles(win.needle, args.updates + 5)

    def drawn() -> None:
        """Run the event loop until the window is drawn; render once if nothing asked for it."""
        app.processEvents()
        if renders[0] == 0:
            pl.interactor.repaint()
            app.processEvents()

    for n in needles[:5]:  # warm-up
        win.session.set_needle(n)
        drawn()
    t_discrete = []
    for n in needles[5:25]:  # a key press each: every readout at once
        renders[0] = 0
        t = time.perf_counter()
        win.session.set_needle(n)
        drawn()
        t_discrete.append(time.perf_counter() - t)
    win.readouts.set_live(True)  # a drag from here on
    t_update, t_set, t_bare, r_update, r_bare = [], [], [], [], []
    for n in needles[5:]:
        renders[0] = 0
        t = time.perf_counter()
        win.session.set_needle(n)
        t_set.append(time.perf_counter() - t)
        drawn()
        t_update.append(time.perf_counter() - t)
        r_update.append(renders[0])
        renders[0] = 0
        t = time.perf_counter()
        pl.interactor.update()
        drawn()
        t_bare.append(time.perf_counter() - t)
        r_bare.append(renders[0])
    # (d) the same drag with the needle plane shown (issue: new views within 20 % of the rate without)
    win.show_plane(True)
    for n in needles[:5]:
        win.session.set_needle(n)
        drawn()
    t_plane = []
    for n in needles[5:]:
        renders[0] = 0
        t = time.perf_counter()
        win.session.set_needle(n)
        drawn()
        t_plane.append(time.perf_counter() - t)
        pl.interactor.update()  # the bare render between, as in (a)
        drawn()
    win.show_plane(False)
    win.readouts.set_live(False)
    t_pv_render = []
    for _ in range(10):
        renders[0] = 0
        t = time.perf_counter()
        pl.render()  # pyvistaqt: renders now, then its frame event schedules a second full render
        app.processEvents()
        t_pv_render.append(time.perf_counter() - t)
    r_pv_render = renders[0]
    camera = pl.camera_position
    engine = win.engine
    t_report = []
    for n in needles[:30]:
        t = time.perf_counter()
        engine.report(n)
        t_report.append(time.perf_counter() - t)
    win.close()
    app.processEvents()
    t_plain = _plain_pyvista(scene, size, camera, 20)

    upd, bare = float(np.mean(t_update)), float(np.mean(t_bare))
    print(f"(a) needle update with redraw, drag:  {_stats(t_update)}, mean {1e3 * upd:7.2f} ms  "
          f"({np.mean(r_update):.1f} renders each)")
    print(f"    of which set_needle (no paint):   {_stats(t_set)}")
    print(f"(a2) update after a key press:        {_stats(t_discrete)}")
    print(f"(d) drag with the needle plane shown: {_stats(t_plane)}, mean {1e3 * np.mean(t_plane):7.2f} ms  "
          f"(x{np.mean(t_plane) / upd:.2f} of (a))")
    print(f"(b) bare render, same scene:          {_stats(t_bare)}, mean {1e3 * bare:7.2f} ms  "
          f"({np.mean(r_bare):.1f} renders each)")
    print(f"(c) plain pyvista, full meshes:       {_stats(t_plain)}")
    print(f"    engine report alone:              {_stats(t_report)}")
    print(f"    plotter.render() + event loop:    {_stats(t_pv_render)}  ({r_pv_render} renders)")
    print(f"fresh process: first frame (the anatomy) {first_frame:.2f} s after start ({fresh['window_to_frame']:.2f} s "
          f"after the window was created);\n  first needle and report {fresh['ready_at'] - started:.2f} s; "
          f"peak memory {fresh['peak_mb']:.0f} MB "
          f"(this process: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB)")
    print(f"resident memory after 1,100 needle moves {fresh['rss_1100']:.0f} MB, after 2,100: "
          f"{fresh['rss_2100']:.0f} MB ({fresh['rss_2100'] - fresh['rss_1100']:+.0f} MB over 1,000 moves)")
    print(f"updates/s: {1.0 / upd:.1f}; update/bare-render: {upd / bare:.2f}; first frame: {first_frame:.2f} s; "
          f"peak memory: {fresh['peak_mb']:.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
