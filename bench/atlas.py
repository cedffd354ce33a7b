"""Benchmark: convert the atlas files once into a fresh cache, then load the cached atlas.

    python bench/atlas.py [DATA_DIR]     # default: ../shared/atlas-source, else the fetched atlas

Prints the conversion time (decode, place, name, write the cache), the cached load time, parts and
triangles per source file, and the residual between the bones present in two files (nearest-
neighbour distance, both ways, after the per-file translations). Figures only.
"""
from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from scipy.spatial import cKDTree

from needlesafe.meshes.atlas.convert import SKELETAL_SOURCE, default_data_dir, load_atlas
from needlesafe.meshes.atlas.sources import FILES

SHARED = Path(__file__).resolve().parents[2] / "shared" / "atlas-source"


def residual_mm(a: np.ndarray, b: np.ndarray) -> float:
    """Largest nearest-neighbour distance between two vertex sets, both ways (mm)."""
    return max(float(cKDTree(a).query(b)[0].max()), float(cKDTree(b).query(a)[0].max()))


def main(argv: list[str]) -> int:
    if argv:
        data = Path(argv[0])
    else:
        data = SHARED if (SHARED / FILES[0].name).is_file() else default_data_dir()
    cache = Path(tempfile.mkdtemp(prefix="needlesafe-atlas-bench-"))
    t0 = time.perf_counter()
    atlas = load_atlas(data, cache)
    t_convert = time.perf_counter() - t0
    t0 = time.perf_counter()
    cached = load_atlas(data, cache)
    t_load = time.perf_counter() - t0
    assert cached.folder is not None
    size_mb = sum(p.stat().st_size for p in cached.folder.iterdir()) / 1e6
    print(f"atlas from {data}")
    print(f"conversion (all files, cache written): {t_convert:6.2f} s")
    print(f"cached load:                           {t_load:6.2f} s   ({size_mb:.0f} MB in {cached.folder.name})")
    print()
    print(f"{'file':<24} {'parts':>6} {'kept':>6} {'triangles':>10} {'kept tri':>10} "
          f"{'brain':>6} {'excl.':>6} {'side fix':>8} {'s':>6}")
    for f in FILES:
        s = atlas.stats[f.name]
        kept = [p for p in atlas.parts.values() if p.source == f.name]
        print(f"{f.name:<24} {s['parts']:>6} {len(kept):>6} {s['triangles']:>10,} "
              f"{sum(p.n_triangles for p in kept):>10,} {s['skipped_brain']:>6} {s['skipped_excluded']:>6} "
              f"{s['side_fixed']:>8} {s['seconds']:>6.2f}")
    print(f"{'atlas (one per name)':<24} {len(atlas.parts):>6} {'':>6} {'':>10} "
          f"{sum(p.n_triangles for p in atlas.parts.values()):>10,}   "
          f"{len(atlas.duplicates)} names also in another file")
    print()
    print("bones in two files (zanatomy-skeletal vs uoft), residual mm:")
    worst = 0.0
    rows = []
    for name, dups in sorted(atlas.duplicates.items()):
        part = atlas.parts[name]
        if part.source != SKELETAL_SOURCE:
            continue
        for other in dups:
            r = residual_mm(part.vertices, other.vertices)
            worst = max(worst, r)
            rows.append((r, name, other.source))
    for r, name, source in sorted(rows, reverse=True)[:8]:
        print(f"  {name:<40} {source:<22} {r:.5f}")
    print(f"  ... {len(rows)} pairs, largest {worst:.5f} mm")
    for name in ("femur_r", "hip_bone_r", "clavicle_r", "humerus_r", "first_rib_r", "frontal_bone"):
        r = max(residual_mm(atlas.parts[name].vertices, d.vertices) for d in atlas.duplicates[name])
        print(f"  {name:<40} {r:.5f}")
    others = [residual_mm(atlas.parts[n].vertices, d.vertices)
              for n, ds in atlas.duplicates.items() if atlas.parts[n].source != SKELETAL_SOURCE for d in ds]
    print(f"soft tissue in two files (uoft vs zanatomy), {len(others)} pairs, largest residual "
          f"{max(others):.5f} mm")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
