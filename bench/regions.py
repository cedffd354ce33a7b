"""Benchmark: time to generate each built-in region and habitus, and to load it from the cache.

    python bench/regions.py

Prints build time (generation + skin envelope), cache write, cache load, triangle counts. Figures only.
"""
from __future__ import annotations

import os
import sys
import tempfile
import time

os.environ["NEEDLESAFE_CACHE"] = tempfile.mkdtemp(prefix="needlesafe-bench-")

from needlesafe.meshes.builtin import _cached_scene, build_region  # noqa: E402
from needlesafe.meshes.habitus import HABITUS_PRESETS  # noqa: E402
from needlesafe.meshes.pack import write_pack  # noqa: E402
from needlesafe.meshes.resolve import load_pack  # noqa: E402


def main() -> int:
    build_region("gluteal", "lean")  # imports and first-use costs outside the timings
    print(f"{'region':<10} {'habitus':<8} {'build s':>8} {'write s':>8} {'load s':>8} {'triangles':>10}")
    for region in ("gluteal", "shoulder"):
        for hab in HABITUS_PRESETS:
            t0 = time.perf_counter()
            scene = build_region(region, hab)
            t_build = time.perf_counter() - t0
            folder = tempfile.mkdtemp()
            t0 = time.perf_counter()
            write_pack(scene, folder)
            t_write = time.perf_counter() - t0
            t0 = time.perf_counter()
            load_pack(folder)
            t_load = time.perf_counter() - t0
            print(f"{region:<10} {hab:<8} {t_build:>8.2f} {t_write:>8.2f} {t_load:>8.2f} {scene.n_triangles:>10,}")
    _cached_scene.cache_clear()
    return 0


if __name__ == "__main__":
    sys.exit(main())
