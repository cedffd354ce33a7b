"""Reading and writing triangle meshes (PLY, STL, OBJ, GLB/GLTF, VTP) with validation."""
from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

import numpy as np

from .types import PackError

MESH_SUFFIXES = (".ply", ".stl", ".obj", ".glb", ".gltf", ".vtp")


def validate_arrays(vertices, faces, where: str) -> tuple[np.ndarray, np.ndarray]:
    """Check and convert mesh arrays; raise PackError naming `where` on any problem.

    Returns vertices (n, 3) float64 and faces (m, 3) int32.
    """
    v = np.asarray(vertices)
    f = np.asarray(faces)
    if v.ndim != 2 or v.shape[1] != 3 or f.ndim != 2 or f.shape[1] != 3 or len(v) == 0 or len(f) == 0:
        raise PackError(f"{where}: mesh is empty or unreadable (no triangles found)")
    if not np.issubdtype(f.dtype, np.integer):
        raise PackError(f"{where}: face indices are not integers")
    v = v.astype(np.float64)
    bad = ~np.all(np.isfinite(v), axis=1)
    if bad.any():
        raise PackError(f"{where}: {int(bad.sum())} vertices are NaN or infinite (first at index {int(np.argmax(bad))})")
    if f.min() < 0 or f.max() >= len(v):
        raise PackError(
            f"{where}: face indices out of range (min {int(f.min())}, max {int(f.max())}, {len(v)} vertices)"
        )
    return v, f.astype(np.int32)


def read_mesh(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Read one mesh file as (vertices (n, 3) float64, faces (m, 3) int32), in the file's own units."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in MESH_SUFFIXES:
        raise PackError(f"{path}: unsupported mesh format '{suffix}' (use {', '.join(MESH_SUFFIXES)})")
    if not path.is_file():
        raise PackError(f"{path}: file not found")
    if path.stat().st_size == 0:
        raise PackError(f"{path}: file is empty")
    try:
        if suffix == ".vtp":
            v, f = _read_vtp(path)
        else:
            own = _read_own_ply(path) if suffix == ".ply" else None
            v, f = own if own is not None else _read_trimesh(path)
    except PackError:
        raise
    except Exception as exc:  # noqa: BLE001 - readers raise many kinds; all mean "unreadable"
        raise PackError(f"{path}: cannot read mesh ({type(exc).__name__}: {exc})") from None
    return validate_arrays(v, f, str(path))


_OWN_PLY = re.compile(
    rb"ply\nformat binary_little_endian 1\.0\n(?:comment [^\n]*\n)*"
    rb"element vertex (\d+)\nproperty double x\nproperty double y\nproperty double z\n"
    rb"element face (\d+)\nproperty list uchar int vertex_indices\nend_header\n"
)


def _read_own_ply(path: Path):
    """Read a PLY exactly as `write_ply` writes it (a pack's own files; the built-in cache) with
    numpy alone, or return None for any other layout, which then goes to the general reader.
    Saves loading trimesh at start-up."""
    with open(path, "rb") as fh:
        head = fh.read(4096)
        m = _OWN_PLY.match(head)
        if m is None:
            return None  # only the header was read
        nv, nf = int(m.group(1)), int(m.group(2))
        start = m.end()
        if os.fstat(fh.fileno()).st_size != start + 24 * nv + 13 * nf:
            return None
        data = head + fh.read()
    v = np.frombuffer(data, dtype="<f8", count=3 * nv, offset=start).reshape(nv, 3)
    rec = np.frombuffer(data, dtype=[("n", "u1"), ("i", "<i4", (3,))], count=nf, offset=start + 24 * nv)
    if nf and not np.all(rec["n"] == 3):
        return None
    return v.astype(np.float64), rec["i"].astype(np.int32)


def _read_trimesh(path: Path):
    import trimesh

    # raw arrays: no merging or cleaning, so what is validated is what the file holds
    with open(path, "rb") as fh:
        loaded = trimesh.load(fh, file_type=path.suffix.lower()[1:], process=False, force="mesh", skip_materials=True)
    if not isinstance(loaded, trimesh.Trimesh):
        raise PackError(f"{path}: file holds no triangle mesh")
    return loaded.vertices, loaded.faces


def _read_vtp(path: Path):
    import vtk
    from vtk.util.numpy_support import vtk_to_numpy

    reader = vtk.vtkXMLPolyDataReader()
    reader.SetFileName(str(path))
    reader.Update()
    tri = vtk.vtkTriangleFilter()
    tri.SetInputData(reader.GetOutput())
    tri.Update()
    poly = tri.GetOutput()
    if poly.GetNumberOfPoints() == 0:
        raise PackError(f"{path}: VTP holds no points")
    v = vtk_to_numpy(poly.GetPoints().GetData())
    cells = vtk_to_numpy(poly.GetPolys().GetConnectivityArray())
    return v, cells.reshape(-1, 3)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write `data` to `path` via a temporary file in the same folder and an atomic rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        # keep the mode of the file being replaced; a new file gets the usual rw-r--r--
        os.chmod(tmp, path.stat().st_mode & 0o777 if path.exists() else 0o644)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def write_ply(path: Path, vertices: np.ndarray, faces: np.ndarray) -> None:
    """Write a binary little-endian PLY (float64 vertices keep sub-micrometre positions), atomically."""
    v = np.ascontiguousarray(vertices, dtype="<f8")
    f = np.asarray(faces, dtype="<i4")
    header = (
        "ply\nformat binary_little_endian 1.0\ncomment NeedleSafe pack mesh, millimetres, LPS\n"
        f"element vertex {len(v)}\nproperty double x\nproperty double y\nproperty double z\n"
        f"element face {len(f)}\nproperty list uchar int vertex_indices\nend_header\n"
    ).encode("ascii")
    rec = np.empty(len(f), dtype=[("n", "u1"), ("i", "<i4", (3,))])
    rec["n"] = 3
    rec["i"] = f
    atomic_write_bytes(path, header + v.tobytes() + rec.tobytes())


def read_json(path, max_bytes: int, error=ValueError, what: str = "file"):
    """Parse a small JSON file; every failure is raised as `error` with a message naming the file."""
    import json

    path = Path(path)
    try:
        if path.stat().st_size > max_bytes:
            raise error(f"{path}: file is too large for a {what}")
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise error(f"{path}: file not found") from None
    except (UnicodeDecodeError, ValueError) as exc:
        if isinstance(exc, error):
            raise
        raise error(f"{path}: not a valid {what} (JSON error: {exc})") from None


def read_table(path):
    """The object in a JSON or TOML file (by suffix). Raises OSError, UnicodeDecodeError or
    ValueError (TOML errors are ValueErrors); callers turn them into their own messages."""
    import json

    path = Path(path)
    text = path.read_text(encoding="utf-8")
    if path.suffix.lower() == ".toml":
        try:
            import tomllib
        except ModuleNotFoundError:  # Python 3.10
            import tomli as tomllib
        return tomllib.loads(text)
    return json.loads(text)
