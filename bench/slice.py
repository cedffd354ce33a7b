"""Benchmark: the needle plane's cross-sections (geometry/slice.py) against trimesh on the same planes.

    python bench/slice.py [PACK ...]

Default packs: the schematic gluteal and, when the atlas is downloaded (or NEEDLESAFE_DATA names a
folder of its files), the atlas regions at average habitus. For each pack, needles run from the skin
vertex nearest each trigger point to it, and each needle's plane is turned 0, 15, ... 165 degrees.
Prints, per pack, the median and 90th percentile time of one plane (all structures) for:
  Slicer.cross_sections            prepared once per scene, sections chained into loops (ours)
  trimesh mesh_plane               trimesh.intersections.mesh_plane per structure (segments only, no chaining)
  trimesh section                  Trimesh.section per structure (segments chained into a Path3D)
and the total section length (mm) of each, without the window: they agree. Then the ultrasound look
(app/slice_picture.ultrasound_image) at 520 x 400 pixels, for the live view's budget. Figures only, no asserts.
"""
from __future__ import annotations

import statistics
import sys
import time

import numpy as np

from needlesafe.geometry.needle import Needle
from needlesafe.geometry.slice import Slicer, needle_plane
from needlesafe.meshes.resolve import load_pack

EXTENT_MM = 90.0


def _needles(scene) -> list[Needle]:
    skin = next((s for s in scene.structures if s.role == "skin"), None)
    out = []
    for tp in scene.trigger_points:
        if skin is None:
            break
        k = int(np.argmin(np.linalg.norm(skin.vertices - tp.point, axis=1)))
        entry = skin.vertices[k]
        d = tp.point - entry
        depth = float(np.linalg.norm(d))
        if depth > 1.0:
            out.append(Needle(entry, d, min(depth, 100.0), 100.0))
    return out


def _length(loops) -> float:
    total = 0.0
    for q in loops:
        total += float(np.linalg.norm(np.diff(np.vstack([q, q[:1]]), axis=0), axis=1).sum())
    return total


def _pct(ts, p):
    return sorted(ts)[min(len(ts) - 1, int(p * len(ts)))]


def bench(pack: str) -> None:
    import trimesh
    from trimesh.intersections import mesh_plane

    scene = load_pack(pack)
    needles = _needles(scene)
    if not needles:
        print(f"{pack}: no trigger point to aim at; skipped")
        return
    t0 = time.perf_counter()
    slicer = Slicer(scene)
    t_prep = time.perf_counter() - t0
    meshes = [trimesh.Trimesh(s.vertices, s.faces, process=False) for s in scene.structures]
    planes = [needle_plane(n, a) for n in needles for a in range(0, 180, 15)]
    slicer.cross_sections(planes[0], EXTENT_MM)  # first-use costs outside the timings
    ours, tm_seg, tm_sec = [], [], []
    len_ours = len_seg = len_sec = 0.0
    for pl in planes:
        t0 = time.perf_counter()
        res = slicer.cross_sections(pl, EXTENT_MM)
        ours.append(time.perf_counter() - t0)
        # the window drops loops far from the needle; the lengths compare whole sections (no window)
        assert res.plane is pl
        whole = slicer.cross_sections(pl, 1e6)
        len_ours += sum(_length(s.loops) + sum(float(np.linalg.norm(np.diff(c, axis=0), axis=1).sum())
                                                for c in s.open_chains) for s in whole.sections)
        t0 = time.perf_counter()
        segs = [mesh_plane(m, pl.normal, pl.origin) for m in meshes]
        tm_seg.append(time.perf_counter() - t0)
        len_seg += sum(float(np.linalg.norm(sg[:, 1] - sg[:, 0], axis=1).sum())
                       for sg in segs if len(sg))
        t0 = time.perf_counter()
        paths = [m.section(plane_normal=pl.normal, plane_origin=pl.origin) for m in meshes]
        tm_sec.append(time.perf_counter() - t0)
        len_sec += sum(p.length for p in paths if p is not None)
    ms = lambda ts: f"{statistics.median(ts) * 1e3:7.2f} ms (p90 {_pct(ts, 0.9) * 1e3:6.2f})"  # noqa: E731
    print(f"{pack}: {len(scene.structures)} structures, {scene.n_triangles:,} triangles, {len(planes)} planes "
          f"({len(needles)} needles x 12 angles); Slicer prepared in {t_prep * 1e3:.0f} ms")
    print(f"  Slicer.cross_sections   {ms(ours)}")
    print(f"  trimesh mesh_plane      {ms(tm_seg)}   x{statistics.median(tm_seg) / statistics.median(ours):.1f}")
    print(f"  trimesh section         {ms(tm_sec)}   x{statistics.median(tm_sec) / statistics.median(ours):.1f}")
    print(f"  section length, mm: ours {len_ours:,.1f}, mesh_plane {len_seg:,.1f}, section {len_sec:,.1f}")
    from needlesafe.app.slice_picture import ultrasound_image, window_for

    us = []
    for n in needles:
        pl = needle_plane(n, 0.0)
        win = window_for(n, 1.3)
        res = slicer.cross_sections(pl, win.extent_mm)
        t0 = time.perf_counter()
        ultrasound_image(res, win, (400, 520), needle_depth_mm=n.depth_mm, seed=0)
        us.append(time.perf_counter() - t0)
    print(f"  ultrasound_image 520x400 {ms(us)}")


def main(argv=None) -> int:
    packs = list(argv if argv is not None else sys.argv[1:])
    if not packs:
        packs = ["gluteal:average"]
        try:
            from needlesafe.meshes.atlas.fetch import atlas_present

            if atlas_present():
                from needlesafe.meshes.atlas.build import atlas_names

                packs += [n for n in atlas_names() if n.endswith(":average")]
        except Exception as exc:  # the atlas is optional here
            print(f"(atlas not used: {exc})")
    for p in packs:
        bench(p)
    return 0


if __name__ == "__main__":
    sys.exit(main())
