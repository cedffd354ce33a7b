"""Plain data types of an anatomy pack: structures, landmarks, scenes (mm, LPS)."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .errors import PackError as PackError  # re-exported: its home is meshes.errors

#: Roles a structure may have; the order is the display order of the layers panel.
#: "unmodelled" is a zone where a danger structure the model does not contain really runs (for
#: example the superior gluteal artery, absent from the atlas): touching or entering its margin
#: reads "unknown" (shown as danger), never safe; it is never a bone backstop or a target.
ROLES = ("skin", "muscle", "nerve", "bone", "pleura", "vessel", "unmodelled", "other")

#: Roles that are critical (danger structures) unless a manifest says otherwise.
CRITICAL_ROLES = ("nerve", "pleura", "vessel", "unmodelled")

#: Teaching default clearance margins in mm by role. They are NeedleSafe's choice, not
#: published limits; an instructor sets their own per structure in the manifest.
DEFAULT_MARGIN_MM = {"nerve": 3.0, "pleura": 5.0, "vessel": 2.0, "unmodelled": 2.0}

#: Display colours by role (nerves yellow, bones ivory, muscles red, pleura blue).
DEFAULT_COLOUR = {
    "skin": "#e8b89a",
    "muscle": "#b5413b",
    "nerve": "#f4d03f",
    "bone": "#ece4cc",
    "pleura": "#5b9bd5",
    "vessel": "#c0392b",
    "unmodelled": "#cc79a7",
    "other": "#9a9a9a",
}


def vertex_normals(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """(n, 3) unit area-weighted vertex normals of an outward-oriented mesh ((m, 3) faces); a vertex
    that no face uses gets the zero vector."""
    tris = vertices[faces]
    fn = np.cross(tris[:, 1] - tris[:, 0], tris[:, 2] - tris[:, 0])
    vn = np.zeros_like(vertices)
    for k in range(3):
        np.add.at(vn, faces[:, k], fn)
    norm = np.linalg.norm(vn, axis=1)
    norm[norm == 0] = 1.0
    return vn / norm[:, None]


def signed_volume(vertices: np.ndarray, faces: np.ndarray) -> float:
    """Signed volume (mm³) enclosed by a closed mesh: positive when its faces are wound outward."""
    tris = np.asarray(vertices, dtype=np.float64)[np.asarray(faces, dtype=np.int64)]
    return float(np.einsum("ij,ij->i", tris[:, 0], np.cross(tris[:, 1], tris[:, 2])).sum() / 6.0)


def mesh_edges(faces: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The undirected edges of an (m, 3) face array: (e, 2) int64 vertex pairs (lower index first,
    rows sorted) and (e,) int64 how many faces share each edge (2 everywhere on a closed surface,
    1 on a boundary, more where sheets meet)."""
    f = np.asarray(faces, dtype=np.int64).reshape(-1, 3)
    if f.size == 0:
        return np.empty((0, 2), dtype=np.int64), np.empty(0, dtype=np.int64)
    a = np.concatenate([f[:, 0], f[:, 1], f[:, 2]])
    b = np.concatenate([f[:, 1], f[:, 2], f[:, 0]])
    n = int(f.max()) + 1
    keys, counts = np.unique(np.minimum(a, b) * n + np.maximum(a, b), return_counts=True)  # one integer per edge
    return np.stack([keys // n, keys % n], axis=1), counts.astype(np.int64)


def faces_closed(faces: np.ndarray) -> bool:
    """True when every edge of the (m, 3) face array is shared by exactly two faces."""
    _, counts = mesh_edges(faces)
    return bool(len(counts) > 0 and np.all(counts == 2))


@dataclass
class Structure:
    """One named anatomical surface.

    vertices : (n, 3) float64, mm, LPS
    faces    : (m, 3) int32 indices into vertices
    """

    name: str
    role: str
    vertices: np.ndarray
    faces: np.ndarray
    colour: str = "#9a9a9a"
    critical: bool = False
    margin_mm: float = 0.0
    file: str | None = None

    @property
    def n_triangles(self) -> int:
        return int(len(self.faces))

    @property
    def is_closed(self) -> bool:
        """True when every edge is shared by exactly two triangles (watertight)."""
        return faces_closed(self.faces)


@dataclass
class Landmark:
    """A named bony landmark: point (3,) mm LPS on or near `bone`."""

    name: str
    point: np.ndarray
    bone: str = ""


@dataclass
class TriggerPoint:
    """A named needling target: point (3,) mm LPS inside `muscle`."""

    name: str
    point: np.ndarray
    muscle: str = ""


@dataclass
class AnatomyScene:
    """A loaded, validated pack: structures and landmarks in mm, LPS."""

    name: str
    structures: list[Structure]
    landmarks: list[Landmark] = field(default_factory=list)
    metadata: dict = field(default_factory=dict)
    trigger_points: list[TriggerPoint] = field(default_factory=list)

    def structure(self, name: str) -> Structure:
        for s in self.structures:
            if s.name == name:
                return s
        raise KeyError(name)

    @property
    def critical(self) -> list[Structure]:
        return [s for s in self.structures if s.critical]

    @property
    def n_triangles(self) -> int:
        return sum(s.n_triangles for s in self.structures)

    def bounds(self) -> np.ndarray:
        """(2, 3) float64 min and max corner of all vertices, mm."""
        allv = np.concatenate([s.vertices for s in self.structures])
        return np.stack([allv.min(axis=0), allv.max(axis=0)])
