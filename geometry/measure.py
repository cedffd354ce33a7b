"""Measurements between structures: exact closest surface-to-surface distance (mm)."""
from __future__ import annotations

import math

import numpy as np

from needlesafe.meshes.types import mesh_edges

from .bvh import TriangleBVH


def surface_distance(a_vertices, a_faces, b_vertices, b_faces):
    """Exact closest distance between two triangle meshes (mm), and the closest pair ((3,), (3,)).

    A closest pair of two triangle meshes always involves an edge of one of them, so every edge of
    each mesh is queried against the other's BVH (0 when the surfaces cross).
    """
    av = np.asarray(a_vertices, float)
    bv = np.asarray(b_vertices, float)
    best = math.inf
    pair = (None, None)
    for verts, faces, other in ((av, a_faces, TriangleBVH(bv, b_faces)), (bv, b_faces, TriangleBVH(av, a_faces))):
        for i, j in mesh_edges(faces)[0]:
            d, cs, ct, face = other.segment_distance(verts[i], verts[j], best)
            if face >= 0 and d < best:
                best = d
                pair = (cs, ct) if verts is av else (ct, cs)
                if best == 0.0:
                    return 0.0, pair
    return best, pair
