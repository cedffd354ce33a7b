"""Shared fixtures: analytic meshes, the real atlas data beside the repository (skipped when absent)."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
import pytest

from needlesafe.meshes.shapes import tube
from needlesafe.meshes.types import DEFAULT_COLOUR, AnatomyScene, Structure

REPO = Path(__file__).resolve().parents[1]
# generated regions are built into a fresh cache for each test run, never a stale one
os.environ["NEEDLESAFE_CACHE"] = tempfile.mkdtemp(prefix="needlesafe-cache-")
os.environ.setdefault("NEEDLESAFE_PACKS", tempfile.mkdtemp(prefix="needlesafe-packs-"))
# no test reads the user's downloaded atlas: tests that need it fetch it (`atlas_data`) and say where
os.environ["NEEDLESAFE_DATA"] = tempfile.mkdtemp(prefix="needlesafe-data-")
ANATOMY_DATA = Path(os.environ.get("NEEDLESAFE_ANATOMY_DATA", REPO.parent / "shared" / "anatomy-data"))
#: The byte-identical local mirror of the eight atlas source files (CC BY-SA; never copied into the repository).
ATLAS_SOURCE = REPO.parent / "shared" / "atlas-source"


def box_mesh(lo, hi):
    """Closed axis-aligned box (8 vertices, 12 outward triangles), mm."""
    lo = np.asarray(lo, float)
    hi = np.asarray(hi, float)
    v = np.array([[x, y, z] for x in (lo[0], hi[0]) for y in (lo[1], hi[1]) for z in (lo[2], hi[2])])
    f = np.array(
        [[0, 1, 3], [0, 3, 2], [4, 6, 7], [4, 7, 5], [0, 4, 5], [0, 5, 1],
         [2, 3, 7], [2, 7, 6], [0, 2, 6], [0, 6, 4], [1, 5, 7], [1, 7, 3]]
    )
    return v, f.astype(np.int32)


def cylinder_mesh(radius, x0, x1, sides=256, y=0.0, z=0.0):
    """Closed tube along x at (y, z) with `sides` facets: within radius*(1-cos(pi/sides)) of the true cylinder."""
    line = np.array([[x, y, z] for x in np.linspace(x0, x1, 9)])
    return tube(line, radius, sides=sides)


def structure(name, role, mesh, critical=None, margin=0.0):
    v, f = mesh
    crit = role in ("nerve", "pleura", "vessel") if critical is None else critical
    return Structure(name, role, np.asarray(v, float), np.asarray(f, np.int32), DEFAULT_COLOUR[role], crit, margin)


def scene_of(*structures, landmarks=()):
    return AnatomyScene("test", list(structures), list(landmarks), {})


@pytest.fixture(scope="session")
def anatomy_data() -> Path:
    if not (ANATOMY_DATA / "gluteal").is_dir() or not (ANATOMY_DATA / "shoulder").is_dir():
        pytest.skip(f"real anatomy data not found at {ANATOMY_DATA}")
    return ANATOMY_DATA


@pytest.fixture(scope="session")
def real_packs(anatomy_data, tmp_path_factory):
    """Both real regions imported (metres, LSA) into LPS-mm packs: {"gluteal": Path, "shoulder": Path}."""
    from needlesafe.meshes.importer import import_folder

    out = tmp_path_factory.mktemp("packs")
    packs = {}
    for region in ("gluteal", "shoulder"):
        import_folder(anatomy_data / region, "m", "LSA", out / region)
        packs[region] = out / region
    return packs


@pytest.fixture(scope="session")
def atlas_source() -> Path:
    """../shared/atlas-source (the eight .glb files as served to users); skips when absent."""
    from needlesafe.meshes.atlas.sources import FILES

    missing = [f.name for f in FILES if not (ATLAS_SOURCE / f.name).is_file()]
    if missing:
        pytest.skip(f"atlas source files not found at {ATLAS_SOURCE} ({', '.join(missing)})")
    return ATLAS_SOURCE


@pytest.fixture(scope="session")
def atlas_data(atlas_source, tmp_path_factory) -> Path:
    """A folder holding the eight atlas files, fetched once per session over the real HTTP path:
    a server on 127.0.0.1 serves ../shared/atlas-source, `fetch(dest, mirror=url)` downloads and
    verifies every SHA-256. Sets no environment variable: pass the folder to the code under test."""
    from needlesafe.meshes.atlas.fetch import fetch
    from tests.atlas_server import serve_folder

    dest = tmp_path_factory.mktemp("atlas-data")
    with serve_folder(atlas_source) as url:
        fetch(dest, mirror=url, retries=0)
    return dest
