"""Read a glTF binary file (``.glb``): its meshes placed by the full node hierarchy, in metres.

A GLB file is a 12-byte header (``glTF``, version 2, total length), a JSON chunk and an optional
BIN chunk (glTF 2.0 spec, "GLB File Format Specification"). `read_glb` validates all of it and
raises `PackError` naming the file and the problem for anything it cannot use (bad magic,
truncated file, a chunk or buffer view beyond its container, missing buffers, JSON garbage,
counts that do not fit their data, a node hierarchy with a cycle), never a bare exception.

Geometry: each primitive is decoded from ``KHR_draco_mesh_compression`` (DracoPy) or read from
plain accessors; only triangle primitives (mode 4) are geometry here. Each node's local transform
is ``T @ R @ S`` (translation, rotation quaternion ``[x, y, z, w]``, scale) or its ``matrix``
(column-major); world = parent world @ local, parents before children, from the default scene's
root nodes. A mirrored world transform (determinant < 0, e.g. scale ``[-1, -1, -1]``) would turn
the triangles inside out, so their winding is reversed to keep outward faces outward.

Results are in the file's own frame and units (glTF: metres); callers move them into a common
frame (`needlesafe.meshes.atlas.convert`).
"""
from __future__ import annotations

import json
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from needlesafe.meshes.errors import PackError

GLB_MAGIC = b"glTF"
CHUNK_JSON = 0x4E4F534A  # "JSON" little-endian
CHUNK_BIN = 0x004E4942  # "BIN\0" little-endian
DRACO = "KHR_draco_mesh_compression"
TRIANGLES = 4

#: accessor componentType -> numpy dtype (glTF 2.0 spec, "Accessor Data Types")
_COMPONENT = {5120: np.int8, 5121: np.uint8, 5122: np.int16, 5123: np.uint16, 5125: np.uint32, 5126: np.float32}
_N_COMPONENTS = {"SCALAR": 1, "VEC2": 2, "VEC3": 3, "VEC4": 4, "MAT2": 4, "MAT3": 9, "MAT4": 16}


@dataclass(frozen=True)
class GlbMesh:
    """One mesh instance (one node's mesh, all its triangle primitives), placed in the file frame.

    vertices : (n, 3) float64, metres, file axes (node hierarchy applied)
    faces : (m, 3) int32, outward winding kept under mirrored transforms
    """

    node: str  #: the node's name (``nodeN`` when unnamed)
    mesh: str  #: the mesh's name (``meshN`` when unnamed)
    path: tuple[str, ...]  #: ancestor node names, root first (empty for a root node)
    vertices: np.ndarray
    faces: np.ndarray


@dataclass(frozen=True)
class GlbFile:
    """A validated GLB: its JSON document and BIN chunk."""

    path: Path
    gltf: dict[str, Any]
    bin: bytes

    def fail(self, problem: str) -> PackError:
        return PackError(f"{self.path.name}: {problem}")


#: decides, before decoding, whether a mesh instance is wanted: keep(node, mesh, path) -> bool
KeepFn = Callable[[str, str, tuple[str, ...]], bool]


def parse_glb(path: Path | str, data: bytes | None = None) -> GlbFile:
    """Validate a GLB's header and chunks and parse its JSON. `data` (the file's bytes) is read from
    `path` when not given. Raises `PackError` naming the file and the problem."""
    path = Path(path)
    if data is None:
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise PackError(f"{path.name}: cannot be read ({exc.strerror or exc})") from None
    name = path.name
    if len(data) < 12:
        raise PackError(f"{name}: not a GLB file (truncated header, {len(data)} bytes)")
    magic, version, length = struct.unpack_from("<4sII", data, 0)
    if magic != GLB_MAGIC:
        raise PackError(f"{name}: not a GLB file (bad magic {magic!r}, expected b'glTF')")
    if version != 2:
        raise PackError(f"{name}: GLB version {version} is not supported (only 2)")
    if length > len(data):
        raise PackError(f"{name}: truncated (header says {length} bytes, file has {len(data)})")
    chunks: list[tuple[int, bytes]] = []
    offset = 12
    while offset < length:
        if offset + 8 > length:
            raise PackError(f"{name}: truncated chunk header at byte {offset}")
        chunk_len, chunk_type = struct.unpack_from("<II", data, offset)
        if offset + 8 + chunk_len > length:
            raise PackError(f"{name}: chunk at byte {offset} has length {chunk_len}, beyond the end of the file")
        chunks.append((chunk_type, data[offset + 8: offset + 8 + chunk_len]))
        offset += 8 + chunk_len + (-chunk_len % 4)  # chunks are 4-byte aligned
    if not chunks or chunks[0][0] != CHUNK_JSON:
        raise PackError(f"{name}: the first chunk is not JSON")
    try:
        gltf = json.loads(chunks[0][1].decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise PackError(f"{name}: JSON chunk is not valid JSON ({exc})") from None
    if not isinstance(gltf, dict):
        raise PackError(f"{name}: JSON chunk is not a glTF object")
    binary = next((c for t, c in chunks[1:] if t == CHUNK_BIN), b"")
    return GlbFile(path, gltf, binary)


# --- JSON access with validation ------------------------------------------------------------------

def _list(g: GlbFile, key: str) -> list[Any]:
    value = g.gltf.get(key, [])
    if not isinstance(value, list):
        raise g.fail(f"'{key}' is not a list")
    return value


def _item(g: GlbFile, key: str, index: Any) -> dict[str, Any]:
    items = _list(g, key)
    if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < len(items):
        raise g.fail(f"{key}[{index!r}] does not exist ({len(items)} {key})")
    item = items[index]
    if not isinstance(item, dict):
        raise g.fail(f"{key}[{index}] is not an object")
    return item


def _nonneg_int(g: GlbFile, obj: dict[str, Any], key: str, where: str, default: int | None = None) -> int:
    value = obj.get(key, default)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise g.fail(f"{where}.{key} is not a non-negative integer ({value!r})")
    return value


def buffer_view_bytes(g: GlbFile, index: Any) -> bytes:
    """The bytes of bufferView `index`, checked to lie inside its buffer (the GLB BIN chunk)."""
    view = _item(g, "bufferViews", index)
    where = f"bufferViews[{index}]"
    buf_index = _nonneg_int(g, view, "buffer", where)
    buffer = _item(g, "buffers", buf_index)
    if buf_index != 0 or "uri" in buffer:
        raise g.fail(f"{where} uses an external buffer (only the GLB's own BIN chunk is read)")
    if not g.bin:
        raise g.fail("missing buffers: the file has no BIN chunk")
    declared = _nonneg_int(g, buffer, "byteLength", "buffers[0]")
    if declared > len(g.bin):
        raise g.fail(f"buffers[0].byteLength {declared} exceeds the BIN chunk ({len(g.bin)} bytes)")
    start = _nonneg_int(g, view, "byteOffset", where, 0)
    length = _nonneg_int(g, view, "byteLength", where)
    if start + length > declared:
        raise g.fail(f"{where} (bytes {start}..{start + length}) lies beyond its buffer ({declared} bytes)")
    return g.bin[start: start + length]


def read_accessor(g: GlbFile, index: Any) -> np.ndarray:
    """A plain accessor's data as an (count, components) array, bounds-checked before reading."""
    acc = _item(g, "accessors", index)
    where = f"accessors[{index}]"
    if "sparse" in acc:
        raise g.fail(f"{where} is sparse (not supported)")
    dtype = _COMPONENT.get(acc.get("componentType"))  # type: ignore[arg-type]
    ncomp = _N_COMPONENTS.get(acc.get("type"))  # type: ignore[arg-type]
    if dtype is None or ncomp is None:
        raise g.fail(f"{where} has an unknown componentType/type")
    count = _nonneg_int(g, acc, "count", where)
    if "bufferView" not in acc:
        raise g.fail(f"{where} has no bufferView")
    view = _item(g, "bufferViews", acc["bufferView"])
    data = buffer_view_bytes(g, acc["bufferView"])
    item = np.dtype(dtype).itemsize * ncomp
    stride = _nonneg_int(g, view, "byteStride", f"bufferViews[{acc['bufferView']}]", 0) or item
    offset = _nonneg_int(g, acc, "byteOffset", where, 0)
    need = offset + (stride * (count - 1) + item if count else 0)
    if need > len(data):
        raise g.fail(f"{where}: count {count} needs {need} bytes, its bufferView holds {len(data)}")
    if count == 0:
        return np.zeros((0, ncomp), dtype)
    raw = np.frombuffer(data, np.uint8, count=need - offset, offset=offset)
    rows = np.lib.stride_tricks.as_strided(raw, shape=(count, item), strides=(stride, 1))
    return np.ascontiguousarray(rows).view(dtype).reshape(count, ncomp)


# --- transforms -----------------------------------------------------------------------------------

def _numbers(g: GlbFile, value: Any, n: int, where: str) -> np.ndarray:
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise g.fail(f"{where} is not {n} numbers") from None
    if arr.shape != (n,) or not np.all(np.isfinite(arr)):
        raise g.fail(f"{where} is not {n} finite numbers")
    return arr


def quaternion_matrix(q: np.ndarray) -> np.ndarray:
    """(3, 3) rotation of the glTF quaternion ``[x, y, z, w]`` (normalised first)."""
    norm = float(np.linalg.norm(q))
    if norm == 0.0:
        return np.eye(3)
    x, y, z, w = q / norm
    return np.array([
        [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
        [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
        [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
    ])


def local_matrix(g: GlbFile, node: dict[str, Any], where: str) -> np.ndarray:
    """(4, 4) local transform of a node: its ``matrix`` (column-major) or ``T @ R @ S``."""
    if "matrix" in node:
        return _numbers(g, node["matrix"], 16, f"{where}.matrix").reshape(4, 4).T
    m = np.eye(4)
    if "scale" in node:
        m[:3, :3] = np.diag(_numbers(g, node["scale"], 3, f"{where}.scale"))
    if "rotation" in node:
        m[:3, :3] = quaternion_matrix(_numbers(g, node["rotation"], 4, f"{where}.rotation")) @ m[:3, :3]
    if "translation" in node:
        m[:3, 3] = _numbers(g, node["translation"], 3, f"{where}.translation")
    return m


def _node_name(node: dict[str, Any], index: int) -> str:
    name = node.get("name")
    return name if isinstance(name, str) and name else f"node{index}"


def walk_nodes(g: GlbFile) -> Iterator[tuple[int, np.ndarray, tuple[str, ...]]]:
    """(node index, (4, 4) world matrix, ancestor names) for every node of the default scene,
    parents before children. A node reached twice (a cycle, a shared child) is an error."""
    nodes = _list(g, "nodes")
    scenes = _list(g, "scenes")
    if scenes:
        scene = _item(g, "scenes", g.gltf.get("scene", 0))
        roots = scene.get("nodes", [])
    else:  # no scene: every node that is nobody's child
        children = {c for n in nodes if isinstance(n, dict) for c in n.get("children", []) if isinstance(c, int)}
        roots = [i for i in range(len(nodes)) if i not in children]
    if not isinstance(roots, list):
        raise g.fail("scene.nodes is not a list")
    seen: set[int] = set()
    stack: list[tuple[Any, np.ndarray, tuple[str, ...]]] = [(r, np.eye(4), ()) for r in reversed(roots)]
    while stack:
        index, parent, path = stack.pop()
        node = _item(g, "nodes", index)
        if index in seen:
            raise g.fail(f"nodes[{index}] is reached twice (a cycle or a shared child in the node hierarchy)")
        seen.add(index)
        world = parent @ local_matrix(g, node, f"nodes[{index}]")
        yield index, world, path
        kids = node.get("children", [])
        if not isinstance(kids, list):
            raise g.fail(f"nodes[{index}].children is not a list")
        name = _node_name(node, index)
        stack.extend((k, world, (*path, name)) for k in reversed(kids))


# --- primitives -----------------------------------------------------------------------------------

def _decode_draco(g: GlbFile, prim: dict[str, Any], where: str) -> tuple[np.ndarray, np.ndarray]:
    import DracoPy

    ext = prim["extensions"][DRACO]
    if not isinstance(ext, dict):
        raise g.fail(f"{where}: {DRACO} is not an object")
    data = buffer_view_bytes(g, ext.get("bufferView"))
    try:
        decoded = DracoPy.decode(data)
        points = np.asarray(decoded.points, dtype=np.float64)
        faces = np.asarray(getattr(decoded, "faces", np.zeros((0, 3))), dtype=np.int64)
    except Exception as exc:  # DracoPy raises its own types (and ValueError/RuntimeError) on bad data
        raise g.fail(f"{where}: Draco data cannot be decoded ({type(exc).__name__}: {exc})") from None
    # the accessors still describe the decoded data (KHR_draco_mesh_compression spec): check them
    attrs = prim.get("attributes", {})
    if isinstance(attrs, dict) and "POSITION" in attrs:
        count = _nonneg_int(g, _item(g, "accessors", attrs["POSITION"]), "count", f"{where} POSITION accessor")
        if count != len(points):
            raise g.fail(f"{where}: POSITION accessor count {count} != {len(points)} decoded points")
    if "indices" in prim:
        count = _nonneg_int(g, _item(g, "accessors", prim["indices"]), "count", f"{where} indices accessor")
        if count != faces.size:
            raise g.fail(f"{where}: indices accessor count {count} != {faces.size} decoded indices")
    return points, faces.reshape(-1, 3)


def _read_plain(g: GlbFile, prim: dict[str, Any], where: str) -> tuple[np.ndarray, np.ndarray]:
    attrs = prim.get("attributes")
    if not isinstance(attrs, dict) or "POSITION" not in attrs:
        raise g.fail(f"{where} has no POSITION attribute")
    points = read_accessor(g, attrs["POSITION"]).astype(np.float64)
    if points.shape[1] != 3:
        raise g.fail(f"{where}: POSITION is not VEC3")
    if "indices" in prim:
        idx = read_accessor(g, prim["indices"])
        if idx.shape[1] != 1 or idx.dtype.kind != "u":
            raise g.fail(f"{where}: indices are not unsigned SCALAR")
        idx = idx.reshape(-1).astype(np.int64)
    else:
        idx = np.arange(len(points), dtype=np.int64)
    if idx.size % 3:
        raise g.fail(f"{where}: {idx.size} indices is not a whole number of triangles")
    return points, idx.reshape(-1, 3)


def read_mesh(g: GlbFile, mesh_index: int) -> tuple[np.ndarray, np.ndarray]:
    """All triangle primitives of mesh `mesh_index`, concatenated: (n, 3) float64 points in the
    mesh's own frame, (m, 3) int32 faces. Non-triangle primitives (points, lines) are skipped."""
    mesh = _item(g, "meshes", mesh_index)
    prims = mesh.get("primitives", [])
    if not isinstance(prims, list):
        raise g.fail(f"meshes[{mesh_index}].primitives is not a list")
    all_points: list[np.ndarray] = []
    all_faces: list[np.ndarray] = []
    base = 0
    for k, prim in enumerate(prims):
        where = f"meshes[{mesh_index}].primitives[{k}]"
        if not isinstance(prim, dict):
            raise g.fail(f"{where} is not an object")
        if prim.get("mode", TRIANGLES) != TRIANGLES:
            continue
        exts = prim.get("extensions")
        if isinstance(exts, dict) and DRACO in exts:
            points, faces = _decode_draco(g, prim, where)
        else:
            points, faces = _read_plain(g, prim, where)
        if points.ndim != 2 or points.shape[1] != 3 or not np.all(np.isfinite(points)):
            raise g.fail(f"{where}: positions are not finite (n, 3) numbers")
        if faces.size and (faces.min() < 0 or faces.max() >= len(points)):
            raise g.fail(f"{where}: a triangle index is outside its {len(points)} vertices")
        all_points.append(points)
        all_faces.append(faces + base)
        base += len(points)
    if not all_points:
        return np.zeros((0, 3)), np.zeros((0, 3), np.int32)
    return np.concatenate(all_points), np.concatenate(all_faces).astype(np.int32)


def read_glb(path: Path | str, keep: KeepFn | None = None, data: bytes | None = None) -> list[GlbMesh]:
    """Every mesh instance of the GLB at `path`, placed by the node hierarchy (file frame, metres).

    keep : optional ``keep(node_name, mesh_name, ancestor_names) -> bool``; meshes it refuses are
        not decoded (the decision is made from names alone, before any geometry is read).
    Returns one `GlbMesh` per node that has a mesh, in hierarchy order (parents before children).
    A mesh shared by several nodes is decoded once.
    """
    g = parse_glb(path, data)
    decoded: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    out: list[GlbMesh] = []
    for index, world, ancestors in walk_nodes(g):
        node = _item(g, "nodes", index)
        if "mesh" not in node:
            continue
        mesh_index = node["mesh"]
        mesh = _item(g, "meshes", mesh_index)
        node_name = _node_name(node, index)
        raw_mesh_name = mesh.get("name")
        mesh_name = raw_mesh_name if isinstance(raw_mesh_name, str) and raw_mesh_name else f"mesh{mesh_index}"
        if keep is not None and not keep(node_name, mesh_name, ancestors):
            continue
        if mesh_index not in decoded:
            decoded[mesh_index] = read_mesh(g, mesh_index)
        points, faces = decoded[mesh_index]
        linear = world[:3, :3]
        # place: p_world = L p + t; a mirrored placement reverses the winding
        vertices = points @ linear.T + world[:3, 3]
        if np.linalg.det(linear) < 0:
            faces = faces[:, ::-1]
        out.append(GlbMesh(node_name, mesh_name, ancestors, vertices, np.ascontiguousarray(faces, dtype=np.int32)))
    return out
