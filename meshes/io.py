"""Reading and writing triangle meshes (PLY, STL, OBJ, GLB/GLTF, VTP) with validation."""
from __future__ import annotations

import json
import os
import re
import shutil
import stat
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from .types import PackError

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10
    import tomli as tomllib

MESH_SUFFIXES = (".ply", ".stl", ".obj", ".glb", ".gltf", ".vtp")
#: Largest mesh file read (bytes); the real atlas meshes are a few MB.
MAX_MESH_BYTES = 1 << 30
#: Largest pack manifest or import override file read (bytes).
MAX_TABLE_BYTES = 20_000_000
#: Temporary files of atomic writes start with this; ones older than STALE_TMP_SECONDS are a killed
#: save's leftovers and are removed by the next atomic write to the same folder.
TMP_PREFIX = ".needlesafe-tmp-"
STALE_TMP_SECONDS = 60.0


class OutputPathError(OSError, ValueError):
    """An output path cannot be written (a directory, under a file, unwritable); the message names it.
    An OSError (as any failed write) and a ValueError (as any bad input), so either handler catches it."""


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a file"


def check_path_text(path, error=ValueError) -> Path:
    """`path` as a Path; a NUL character (which no file name can hold) is raised as `error`."""
    if "\0" in os.fspath(path):
        raise error(f"{os.fspath(path)!r}: a file name cannot hold a NUL character")
    return Path(path)


def read_regular_bytes(path, max_bytes: int, error=ValueError, what: str = "file") -> bytes:
    """The bytes of a regular file of at most `max_bytes`. FIFOs, directories, devices (/dev/zero)
    and symlinks to them are refused before they are opened for reading (a FIFO opened without
    O_NONBLOCK would block; a device could be read forever). Every failure is raised as `error`
    with a message naming the file."""
    path = check_path_text(path, error)
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise error(f"{path}: file not found") from None
    except OSError as exc:
        raise error(f"{path}: cannot read the {what}: {exc.strerror}") from None
    if not stat.S_ISREG(st.st_mode):
        raise error(f"{path}: not a regular file ({_kind(st.st_mode)}); give a {what} file")
    if st.st_size > max_bytes:
        raise error(f"{path}: file is too large for a {what} ({st.st_size:,} bytes; at most {max_bytes:,})")
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):  # swapped since the stat
                raise error(f"{path}: not a regular file; give a {what} file")
            with os.fdopen(fd, "rb", closefd=False) as fh:
                data = fh.read(max_bytes + 1)
        finally:
            os.close(fd)
    except OSError as exc:
        raise error(f"{path}: cannot read the {what}: {exc.strerror or exc}") from None
    if len(data) > max_bytes:
        raise error(f"{path}: file is too large for a {what} (more than {max_bytes:,} bytes)")
    return data


def _decode(data: bytes, path, error, what):
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise error(f"{path}: the {what} is not UTF-8 text (byte {exc.start})") from None


def _parse(loads, text: str, path, error, what, kind: str):
    """`loads(text)` with every parser failure (syntax, RecursionError from deep nesting, the
    int-str digit limit) raised as `error` naming the file."""
    try:
        return loads(text)
    except RecursionError:
        raise error(f"{path}: cannot read the {what}: {kind} nested too deeply (not a valid {what})") from None
    except ValueError as exc:  # JSON and TOML syntax errors, and too many digits, are ValueErrors
        if isinstance(exc, error):
            raise
        raise error(f"{path}: cannot read the {what}: not a valid {what}, not valid {kind} ({exc})") from None


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
        raise PackError(
            f"{where}: {int(bad.sum())} vertices are NaN or infinite (first at index {int(np.argmax(bad))})"
        )
    if f.min() < 0 or f.max() >= len(v):
        raise PackError(
            f"{where}: face indices out of range (min {int(f.min())}, max {int(f.max())}, {len(v)} vertices)"
        )
    return v, f.astype(np.int32)


def read_mesh(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Read one mesh file as (vertices (n, 3) float64, faces (m, 3) int32), in the file's own units."""
    path = check_path_text(path, PackError)
    suffix = path.suffix.lower()
    if suffix not in MESH_SUFFIXES:
        raise PackError(f"{path}: unsupported mesh format '{suffix}' (use {', '.join(MESH_SUFFIXES)})")
    try:
        st = os.stat(path)
    except OSError:
        raise PackError(f"{path}: file not found") from None
    if not stat.S_ISREG(st.st_mode):
        raise PackError(f"{path}: not a regular file ({_kind(st.st_mode)}); give a mesh file")
    if st.st_size == 0:
        raise PackError(f"{path}: file is empty")
    if st.st_size > MAX_MESH_BYTES:
        raise PackError(f"{path}: file is too large for a mesh ({st.st_size:,} bytes; at most {MAX_MESH_BYTES:,})")
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


def remove_stale_temporaries(folder, max_age_s: float = STALE_TMP_SECONDS) -> int:
    """Remove the leftovers of killed atomic writes in `folder`: files and folders named
    TMP_PREFIX* not modified for `max_age_s` seconds (a live write is younger). Returns how many."""
    removed = 0
    now = time.time()
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return 0
    for entry in entries:
        if not entry.name.startswith(TMP_PREFIX):
            continue
        try:
            if now - entry.stat(follow_symlinks=False).st_mtime < max_age_s:
                continue
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path)
            else:
                os.unlink(entry.path)
            removed += 1
        except OSError:
            pass
    return removed


def _existing_ancestor(path: Path) -> Path:
    p = path
    while not os.path.lexists(p) and p != p.parent:
        p = p.parent
    return p


def check_output_path(path, folder: bool = False) -> Path:
    """Check before any work that `path` can be written: a file (or with `folder`, a folder)
    whose parent is, or can be made, a writable folder. Raises OutputPathError naming the path:
    "is a directory", "not a folder" (a file is in the way) or "cannot write"."""
    path = check_path_text(path, OutputPathError)
    if path.is_dir() and not folder:
        raise OutputPathError(f"{path}: is a directory; give a file name to write")
    if os.path.lexists(path) and not path.is_dir() and folder:
        raise OutputPathError(f"{path}: not a folder (a file of that name is in the way)")
    anc = _existing_ancestor(path.parent)
    if not anc.is_dir():
        raise OutputPathError(f"{path}: not a folder: {anc} is a file, so nothing can be written under it")
    try:  # a real probe: permissions, read-only or virtual file systems (/proc) all show here
        fd, probe = tempfile.mkstemp(prefix=TMP_PREFIX + "probe.", dir=anc)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise OutputPathError(f"{path}: cannot write here ({anc}: {exc.strerror or exc})") from None
    return path


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write `data` to `path` via a temporary file in the same folder and an atomic rename.

    The temporary file is named TMP_PREFIX + the file's name; stale ones (a killed save) in the
    folder are removed first. Raises OutputPathError when `path` is a directory or lies under a file."""
    path = check_path_text(path, OutputPathError)
    if path.is_dir():
        raise OutputPathError(f"{path}: is a directory; give a file name to write")
    anc = _existing_ancestor(path.parent)
    if not anc.is_dir():
        raise OutputPathError(f"{path}: not a folder: {anc} is a file, so nothing can be written under it")
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(path.parent)
    fd, tmp = tempfile.mkstemp(prefix=f"{TMP_PREFIX}{path.name}.", suffix=".tmp", dir=path.parent)
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
    """Parse a small JSON file (a regular file of at most `max_bytes`); every failure, including
    deep nesting and over-long numbers, is raised as `error` with a message naming the file."""
    text = _decode(read_regular_bytes(path, max_bytes, error, what), path, error, what)
    return _parse(json.loads, text, path, error, what, "JSON")


def read_table(path, max_bytes: int = MAX_TABLE_BYTES, error=PackError, what: str = "file"):
    """The data of a JSON or TOML file (by suffix), read as `read_json` reads; failures are
    raised as `error` naming the file."""
    path = check_path_text(path, error)
    text = _decode(read_regular_bytes(path, max_bytes, error, what), path, error, what)
    if path.suffix.lower() == ".toml":
        return _parse(tomllib.loads, text, path, error, what, "TOML")
    return _parse(json.loads, text, path, error, what, "JSON")
