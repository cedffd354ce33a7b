"""The atlas source files: where a user's machine downloads them, their hashes, frames and licences.

Facts from ``../shared/atlas-source/SOURCES.md`` (the project's description of the public files;
the files themselves are never in the repository). URLs are pinned by commit, so a URL's content
never changes and its SHA-256 is fixed.

Frames: every file is glTF (metres, +X body left, +Y superior, +Z anterior). The ``zanatomy-*``
files share one origin (on the floor at the midline); each ``uoft-*`` file was re-centred by its
exporter, and `AtlasFile.translation_m` (metres, in the file's own axes, added after the node
transforms) puts it back into the zanatomy frame. `to_lps_mm` then gives NeedleSafe's frame.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Credit to show wherever atlas meshes are shown (About box, README, every atlas pack's manifest).
ATTRIBUTION: tuple[str, ...] = (
    "BodyParts3D - The Database Center for Life Science - CC-BY-SA 2.1 Japan",
    "Z-Anatomy - The open source atlas of anatomy - CC-BY-SA 4.0",
)
#: Licence of every pack built from the atlas (share-alike).
PACK_LICENCE = "CC BY-SA 4.0 (built from Z-Anatomy / BodyParts3D meshes; share-alike)"

_UOFT = ("UofTNeuromuscularFellowship/Fellowship", "fe432c27bab548e0e1dfc90da383554a52f74f7e")
_ZANAT = ("nqwrc/3d-anatomy", "8b2c9e68c57355065720281291eb9f19992e3ca3")
_RAW = "https://raw.githubusercontent.com/{repo}/{commit}/{path}"


@dataclass(frozen=True)
class AtlasFile:
    """One downloadable glTF binary file of the atlas."""

    name: str  #: local file name, e.g. "uoft-trunk.glb"
    repo: str  #: "owner/name" of the public repository it comes from
    commit: str  #: pinned commit (40 hex digits)
    path: str  #: path inside that repository
    size: int  #: bytes
    sha256: str  #: hex digest
    exporter: str  #: who exported it from Z-Anatomy (credited beside ATTRIBUTION)
    translation_m: tuple[float, float, float] = (0.0, 0.0, 0.0)  #: into the zanatomy frame (file axes, m)
    right_only: bool = False  #: soft tissue of the right side only

    @property
    def url(self) -> str:
        return _RAW.format(repo=self.repo, commit=self.commit, path=self.path)

    def url_from(self, mirror: str) -> str:
        """This file's URL under another base (`mirror` + "/" + local name)."""
        return mirror.rstrip("/") + "/" + self.name


_UOFT_BY = "UofT Neuromuscular Fellowship (per-region export of Z-Anatomy Startup.blend)"
_ZANAT_BY = "nqwrc/3d-anatomy (per-system export of Z-Anatomy)"

FILES: tuple[AtlasFile, ...] = (
    AtlasFile("uoft-head-neck.glb", *_UOFT, "public/models/head-neck.glb", 817400,
              "377ab16da05aae3256b051b7e7f8c569145b674aae348f027d4a1ae822ec8090", _UOFT_BY,
              (-0.048867, 1.405187, -0.014930), True),
    AtlasFile("uoft-lower-limb.glb", *_UOFT, "public/models/lower-limb.glb", 1074432,
              "0e28f7248433be3f1b6743ab8f8211e6d897b2bf2fa9d4a083ec801b736e14e1", _UOFT_BY,
              (-0.079703, 0.790978, 0.012691), True),
    AtlasFile("uoft-trunk.glb", *_UOFT, "public/models/trunk.glb", 1331360,
              "fb98bfe5e8efb38dca3251d2785521b3f90b6bbe0232b2d3669b3ef367c7c47d", _UOFT_BY,
              (-0.008337, 1.158464, 0.013995), True),
    AtlasFile("uoft-upper-limb.glb", *_UOFT, "public/models/upper-limb.glb", 1125452,
              "340136e14f4869ba1f4e89728965162dc3e1a79b4597ac0f283cbbce96d1a6cf", _UOFT_BY,
              (-0.166194, 1.119056, 0.003169), True),
    AtlasFile("zanatomy-skeletal.glb", *_ZANAT, "public/models/skeletal.glb", 1863828,
              "c2b70b31ddec4062cbc5ba969fc24ecfed61d00397a0bca795e2701d997200f8", _ZANAT_BY),
    AtlasFile("zanatomy-nervous.glb", *_ZANAT, "public/models/nervous.glb", 3802588,
              "c7cde35497f887b319c0a84f1b5b605fa3ce66e23084b5e09d6e3825fa5030d9", _ZANAT_BY),
    AtlasFile("zanatomy-visceral.glb", *_ZANAT, "public/models/visceral.glb", 1844996,
              "b21a0f34b3da1bb0b6a9a6ae71d16ffbc036beb504944af2422d4b91a9317fe5", _ZANAT_BY),
    AtlasFile("zanatomy-joints.glb", *_ZANAT, "public/models/joints.glb", 921960,
              "9fdab1a257652597cf8f0b2ac93d12abc817e8f9a9099b9628e764018490afa2", _ZANAT_BY),
)
BY_NAME: dict[str, AtlasFile] = {f.name: f for f in FILES}
TOTAL_BYTES = sum(f.size for f in FILES)

#: Meshes that must never be converted or shown (other licences; see Z-Anatomy's License.txt):
#: the kidney (CC BY-NC 4.0), the inner ear (CC BY-NC-SA 4.0) and brain white matter (not stated).
#: Matched case-insensitively against a mesh's or node's name (as a substring).
EXCLUDED_TERMS: tuple[str, ...] = (
    "kidney", "renal pelvis", "cochlea", "semicircular", "vestibul", "inner ear", "labyrinth",
    "white matter", "brainder",
)


def excluded(term: str) -> bool:
    """True when `term` (a mesh or node name) names a part that may not be used."""
    t = term.replace("_", " ").lower()
    return any(x in t for x in EXCLUDED_TERMS)


def to_lps_mm(points_m: np.ndarray) -> np.ndarray:
    """glTF zanatomy-frame points (n, 3) in metres -> LPS millimetres: (x, y, z) -> 1000 (x, -z, y)."""
    p = np.asarray(points_m, dtype=np.float64)
    return 1000.0 * np.column_stack([p[:, 0], -p[:, 2], p[:, 1]])
