"""Writing safety maps: VTP (skin with point data), CSV (one row per vertex) and PNG pictures."""
from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np

from needlesafe.meshes.io import atomic_write_bytes, atomic_write_text

from .attempt_log import csv_cell
from .render import map_polydata, render_safety_map


def write_map(scene, smap, out, needle_length_mm: float = 50.0) -> Path:
    """Write the map as .vtp, .csv or .png (by suffix); writes are atomic. Raises OutputPathError
    (an OSError) naming `out` when it is a directory, lies under a file or cannot be written."""
    out = Path(out)
    suffix = out.suffix.lower()
    if suffix == ".csv":
        buf = io.StringIO()
        w = csv.writer(buf)
        w.writerow(["vertex", "x_mm", "y_mm", "z_mm", "dx", "dy", "dz", "safe_depth_mm", "bone_depth_mm",
                    "backstop", "limiting_structure", "exit_mm", "not_modelled"])
        not_modelled = smap.not_modelled
        for i, (p, d) in enumerate(zip(smap.points, smap.directions, strict=True)):
            # a structure name is the only text: neutralised so a spreadsheet never runs it as a formula
            lim = csv_cell(smap.critical_names[smap.limiting[i]]) if smap.limiting[i] >= 0 else ""
            bone, ex = smap.bone_depth_mm[i], smap.exit_mm[i]
            w.writerow([i, *(f"{x:.3f}" for x in p), *(f"{x:.5f}" for x in d), f"{smap.safe_depth_mm[i]:.3f}",
                        f"{bone:.3f}" if np.isfinite(bone) else "", int(smap.backstop[i]), lim,
                        f"{ex:.3f}" if np.isfinite(ex) else "", int(not_modelled[i])])
        atomic_write_text(out, buf.getvalue())
    elif suffix == ".vtp":
        import tempfile

        poly = map_polydata(scene, smap)
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "map.vtp"
            poly.save(str(path))
            atomic_write_bytes(out, path.read_bytes())
    elif suffix == ".png":
        render_safety_map(scene, smap, out, needle_length_mm)
    else:
        raise ValueError(f"{out}: write the map as .vtp, .csv or .png")
    return out
