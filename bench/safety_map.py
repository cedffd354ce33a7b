"""Benchmark: safety map time against the straightforward per-vertex approach, in the same run.

    python bench/safety_map.py [--data ../shared/anatomy-data] [--sample 300]

For the built-in regions and (when the data is there) the Z-Anatomy shoulder with a generated skin,
prints the number of skin vertices, the map's time (parallel compiled loop over all vertices), the
straightforward approach's time (one full clearance report per vertex, timed on a random sample and
scaled to all vertices), their ratio, and the largest difference on the sample. Figures only.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from needlesafe.geometry.clearance import ClearanceEngine
from needlesafe.geometry.safety_map import compute_safety_map, safe_depth_naive


def bench(label, scene, sample):
    engine = ClearanceEngine(scene)
    compute_safety_map(engine)  # compile and warm up
    t0 = time.perf_counter()
    smap = compute_safety_map(engine)
    t_map = time.perf_counter() - t0
    n = len(smap.points)
    idx = np.random.default_rng(0).choice(n, min(sample, n), replace=False)
    t0 = time.perf_counter()
    naive = np.array([safe_depth_naive(engine, smap.points[i], smap.directions[i]) for i in idx])
    t_naive = (time.perf_counter() - t0) / len(idx) * n
    diff = np.abs(naive - smap.safe_depth_mm[idx]).max()
    print(f"{label}: {n:,} skin vertices; map {t_map:.2f} s; per-vertex reports {t_naive:.1f} s "
          f"(from {len(idx)} vertices); ratio {t_naive / t_map:.0f}x; largest difference {diff:.2e} mm")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "shared" / "anatomy-data"))
    ap.add_argument("--sample", type=int, default=300)
    args = ap.parse_args(argv)
    from needlesafe.meshes.builtin import builtin_scene
    from needlesafe.meshes.importer import import_folder

    for name in ("gluteal:average", "shoulder:average", "gluteal:high"):
        bench(f"built-in {name}", builtin_scene(name), args.sample)
    data = Path(args.data) / "shoulder"
    if data.is_dir():
        scene, _ = import_folder(data, "m", "LSA", skin_fat_mm=8.0)
        bench("Z-Anatomy shoulder + generated skin", scene, args.sample)
    return 0


if __name__ == "__main__":
    sys.exit(main())
