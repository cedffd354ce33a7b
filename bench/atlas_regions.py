"""Benchmark: build atlas regions from their recipes into a fresh cache, then load them cached.

    python bench/atlas_regions.py [--data DIR] [--habitus average] [REGION ...]

DATA_DIR defaults to ../shared/atlas-source, else the fetched atlas; REGION defaults to every
shipped recipe. The atlas is converted once (not timed here: bench/atlas.py). For each region and
habitus prints the structure count, the triangle count (all / critical / skin), the first build
(crop, skin envelope and its fat fit, landmarks, trigger points, writing the pack) and the cached
load (reading the pack back, as a new session does). Budgets (DESIGN.md, issue 10): first build
<= 15 s, cached <= 0.2 s on the 2-core machine. Figures only, no asserts.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

SHARED = Path(__file__).resolve().parents[2] / "shared" / "atlas-source"


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("regions", nargs="*")
    p.add_argument("--data", type=Path, default=None)
    p.add_argument("--habitus", nargs="*", default=["average"])
    args = p.parse_args(argv)
    os.environ["NEEDLESAFE_CACHE"] = tempfile.mkdtemp(prefix="needlesafe-regions-bench-")

    from needlesafe.meshes.atlas import build
    from needlesafe.meshes.atlas.convert import default_data_dir, load_atlas
    from needlesafe.meshes.atlas.recipe import recipe_ids
    from needlesafe.meshes.atlas.sources import FILES

    data = args.data or (SHARED if (SHARED / FILES[0].name).is_file() else default_data_dir())
    os.environ["NEEDLESAFE_DATA"] = str(data)  # a cache miss builds from the same files
    t0 = time.perf_counter()
    atlas = load_atlas(data)
    print(f"atlas: {len(atlas)} parts from {data} in {time.perf_counter() - t0:.1f} s (conversion + cache)")
    print(f"{'pack':34} {'structs':>7} {'triangles':>10} {'critical':>9} {'skin':>7} {'build s':>8} {'cached s':>9}")
    for region in args.regions or recipe_ids():
        for habitus in args.habitus:
            name = f"atlas:{region}:{habitus}"
            t0 = time.perf_counter()
            try:
                scene = build.atlas_scene(name, atlas=atlas)
            except Exception as exc:  # a broken recipe is reported, the others still measured
                print(f"{name:34} FAILED: {exc}")
                continue
            t_build = time.perf_counter() - t0
            build._SCENES.clear()  # the next call reads the pack from the cache folder
            t0 = time.perf_counter()
            cached = build.atlas_scene(name)
            t_cached = time.perf_counter() - t0
            crit = sum(s.n_triangles for s in cached.critical)
            print(f"{name:34} {len(scene.structures):7d} {scene.n_triangles:10,d} {crit:9,d} "
                  f"{scene.structures[0].n_triangles:7,d} {t_build:8.1f} {t_cached:9.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
