"""The atlas files converted once into named parts, in LPS millimetres, cached.

Naming scheme (stable; recipes refer to parts by these names)
-------------------------------------------------------------
``name = snake(term) + "_" + side`` for a sided part, ``snake(term)`` for a midline one, where

- ``term`` is the English term as the file spells it, cleaned: the side suffix (``.l`` / ``.r`` in
  zanatomy node names, ``_r`` in uoft node names), Blender duplicate suffixes (``.001``) and
  trailing primes are removed. uoft terms come from the mesh name (plain English), zanatomy terms
  from the node name (zanatomy meshes are shared between the two sides);
- ``snake`` lowercases, drops accents and parentheses, and joins the words with ``_``:
  "Accessory nerve (XI)" -> ``accessory_nerve_xi``, "Humero-ulnar head of flexor digitorum
  superficialis" -> ``humero_ulnar_head_of_flexor_digitorum_superficialis``;
- ``side`` is ``r`` / ``l`` (patient right / left) or empty for midline. A zanatomy node without a
  suffix takes its parent's side, or, when the file has the same term with a side suffix, the
  side its vertices lie on (a few nodes lost their suffix in the source); a term that names its
  side ("Right main bronchus", "Left common carotid artery") gets no suffix. A sided part lying
  wholly on the other side of the midline is named for the side it lies on (the source swapped
  the suffixes of the lateral temporomandibular ligaments). Parts may still cross the midline
  (the right vagus nerve's thoracic branches reach x = +70 mm).

So: ``gluteus_maximus_muscle_r``, ``sciatic_nerve_r``, ``first_rib_l``, ``vertebra_t7``,
``atlas_c1``, ``sacrum``, ``pleura``, ``superior_lobe_of_right_lung``,
``roots_of_brachial_plexus_r``. Every piece of one structure in one file (nerves come in several
pieces) is one part (vertices and faces concatenated).

One part per name: where a name comes from several files, `Atlas.parts` holds one and
`Atlas.duplicates` the others (also ``Atlas.get(name, source=...)``). Bones and cartilages come
from ``zanatomy-skeletal`` (both sides from one file, the left a mirror of the right; the uoft
copies coincide with it below 1 µm, see `bench/atlas.py`); everything else prefers the uoft
region files (full resolution, right side) over the zanatomy system files.

Never converted: the licence-trapped parts (`sources.excluded` on the node name, the mesh name
or any ancestor node's name), the brain (`BRAIN_TERMS`, zanatomy-nervous only: not needed, most
of its triangles; the spinal cord, roots, plexus and nerves stay), and unnamed objects.

Frame: vertices in millimetres, LPS (+x patient left, +y posterior, +z superior): the node
hierarchy (`glb.read_glb`), then `AtlasFile.translation_m`, then `sources.to_lps_mm`.

Cache: `load_atlas` converts once into ``cache_dir()/atlas/<key>/`` (one ``.npz`` per source
file, ``index.json``), keyed by the sources' SHA-256 and this code's source; written atomically;
a damaged cache is rebuilt.
"""
from __future__ import annotations

import difflib
import fnmatch
import hashlib
import json
import logging
import os
import re
import shutil
import tempfile
import time
import unicodedata
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from needlesafe.meshes.atlas import glb
from needlesafe.meshes.atlas.sources import FILES, AtlasFile, excluded, to_lps_mm
from needlesafe.meshes.errors import AtlasError, PackError

log = logging.getLogger(__name__)

CACHE_VERSION = 1
SKELETAL_SOURCE = "zanatomy-skeletal.glb"
#: the files whose brain parts are skipped (by `BRAIN_TERMS`)
BRAIN_SOURCES = ("zanatomy-nervous.glb",)
#: brain parts (regular expressions searched in the lowercase term): not needed for needling
BRAIN_TERMS: tuple[str, ...] = (
    r"\bgyr", r"\bsulc", r"lobule", r"vermis", r"cerebell", r"cerebr", r"ventricle", r"thalam",
    r"colliculus", r"geniculate", r"medulla oblongata", r"\bolive\b", r"\bpons\b", r"midbrain",
    r"peduncle", r"peduncul", r"\bnucle", r"hippocamp", r"amygdal", r"putamen", r"pallidus",
    r"lentiform", r"caudate", r"fornix", r"corpus callosum", r"commissure", r"septum pellucidum",
    r"septal", r"\bstria\b", r"habenula", r"mamillary", r"optic chiasm", r"optic tract", r"insula\b",
    r"lat_fis", r"cuneus", r"temporal pole", r"temporal plane", r"occipital pole", r"flocculus",
    r"culmen", r"declive", r"pyramis", r"tentorium", r"choroid plexus",
)
#: spinal-cord parts that a brain pattern would catch ("nucleus"): kept
SPINAL_TERMS: tuple[str, ...] = (
    r"spinal", r"intermedio", r"nucleus proprius", r"nucleus of accessory nerve",
)
_BRAIN = re.compile("|".join(BRAIN_TERMS))
_SPINAL = re.compile("|".join(SPINAL_TERMS))
_SIDE = re.compile(r"[._]([lrLR])$")
_BLENDER = re.compile(r"(\.\d{3}|')+$")
_SIDE_WORD = re.compile(r"\b(left|right)\b", re.IGNORECASE)  # "Right main bronchus": no suffix added


def is_brain(term: str) -> bool:
    """True for a brain part (skipped), False for spinal cord, nerves and everything else."""
    t = term.lower()
    return bool(_BRAIN.search(t)) and not _SPINAL.search(t)


def split_side(raw: str) -> tuple[str, str]:
    """``"Sciatic nerve.r"`` -> ``("Sciatic nerve", "r")``; ``"Femur_r"`` -> ``("Femur", "r")``;
    ``"Sacrum"`` -> ``("Sacrum", "")``. Blender ``.001`` suffixes and primes are dropped."""
    s = _BLENDER.sub("", raw.strip()).strip()
    m = _SIDE.search(s)
    side = ""
    if m:
        side = m.group(1).lower()
        s = _BLENDER.sub("", s[: m.start()]).strip()
    return s, side


def snake(term: str) -> str:
    """``"Accessory nerve (XI)"`` -> ``"accessory_nerve_xi"`` (ASCII, lowercase, words joined by _)."""
    ascii_term = unicodedata.normalize("NFKD", term).encode("ascii", "ignore").decode()
    return "_".join(re.findall(r"[a-z0-9]+", ascii_term.lower()))


def part_name(term: str, side: str) -> str:
    """The stable name of a part: ``snake(term)`` plus ``_r`` / ``_l`` when sided."""
    base = snake(term)
    return f"{base}_{side}" if side else base


@dataclass
class AtlasPart:
    """One named structure of the atlas.

    vertices : (n, 3) float64, mm, LPS (+x patient left, +y posterior, +z superior); read-only
    faces : (m, 3) int32 indices into `vertices`; read-only
    """

    name: str  #: stable snake_case name with side suffix ("sciatic_nerve_r"), none for midline
    term: str  #: the English term as the file spells it (side and Blender suffixes removed)
    side: str  #: "r", "l" or "" (midline)
    source: str  #: atlas file name, e.g. "uoft-lower-limb.glb"
    vertices: np.ndarray
    faces: np.ndarray

    @property
    def n_triangles(self) -> int:
        return len(self.faces)

    def bounds(self) -> np.ndarray:
        """(2, 3) float64: min and max corner, mm."""
        return np.stack([self.vertices.min(axis=0), self.vertices.max(axis=0)])


@dataclass
class Atlas:
    """The converted atlas: one `AtlasPart` per name, plus other files' copies of the same names."""

    parts: dict[str, AtlasPart]
    #: name -> the same structure from other files (not in `parts`), e.g. uoft bones
    duplicates: dict[str, list[AtlasPart]] = field(default_factory=dict)
    #: per source file: {"parts", "triangles", "skipped_brain", "skipped_excluded", "seconds"}
    stats: dict[str, dict[str, Any]] = field(default_factory=dict)
    folder: Path | None = None  #: the cache folder it was loaded from, if any

    def get(self, name: str, source: str | None = None) -> AtlasPart:
        """The part called `name` (from file `source` when given). KeyError with close matches."""
        part = self.parts.get(name)
        if part is not None and (source is None or part.source == source):
            return part
        for dup in self.duplicates.get(name, []):
            if dup.source == source:
                return dup
        close = difflib.get_close_matches(name, list(self.parts), n=5, cutoff=0.6)
        where = f" from {source}" if source else ""
        hint = f"; close matches: {', '.join(close)}" if close else ""
        raise KeyError(f"no atlas part {name!r}{where}{hint}")

    def names(self, pattern: str | None = None) -> list[str]:
        """Sorted part names, those matching the fnmatch `pattern` (e.g. ``"*rib*_r"``) when given."""
        names = sorted(self.parts)
        return names if pattern is None else [n for n in names if fnmatch.fnmatchcase(n, pattern)]

    def __contains__(self, name: object) -> bool:
        return name in self.parts

    def __len__(self) -> int:
        return len(self.parts)


# --- conversion -----------------------------------------------------------------------------------

def _term_of(source: AtlasFile, node: str, mesh: str) -> tuple[str, str]:
    """(term, side) of one mesh instance, from the file's naming convention."""
    node_term, node_side = split_side(node)
    if source.name.startswith("uoft-"):
        mesh_term, _ = split_side(mesh)  # mesh names are plain English (a stray ".l"/".r" at most)
        term = mesh_term if len(re.findall(r"[A-Za-z]", mesh_term)) >= 3 else node_term.replace("_", " ")
        return term, node_side
    return node_term, node_side


def convert_file(path: Path, source: AtlasFile, data: bytes | None = None) -> tuple[list[AtlasPart], dict[str, Any]]:
    """The parts of one atlas file (one per name; pieces merged) and its counts."""
    t0 = time.perf_counter()
    skipped = {"brain": 0, "excluded": 0, "unnamed": 0, "side_fixed": 0}
    brain_file = source.name in BRAIN_SOURCES

    def keep(node: str, mesh: str, ancestors: tuple[str, ...]) -> bool:
        if excluded(node) or excluded(mesh) or any(excluded(a) for a in ancestors):
            skipped["excluded"] += 1
            return False
        term, _ = _term_of(source, node, mesh)
        if brain_file and is_brain(term):
            skipped["brain"] += 1
            return False
        if len(re.findall(r"[A-Za-z]", term)) < 3:  # e.g. uoft-lower-limb's stray "?x" object
            skipped["unnamed"] += 1
            return False
        return True

    meshes = glb.read_glb(path, keep, data)
    shift = np.asarray(source.translation_m, dtype=np.float64)
    # group pieces by (term, side); a zanatomy node without side: parent's side or its vertices' side
    sided_terms = {split_side(m.node)[0] for m in meshes if split_side(m.node)[1]}
    groups: dict[str, list[tuple[str, str, np.ndarray, np.ndarray]]] = {}
    for m in meshes:
        if not len(m.faces):
            continue
        term, side = _term_of(source, m.node, m.mesh)
        verts = to_lps_mm(m.vertices + shift)
        if not side and not source.name.startswith("uoft-") and not _SIDE_WORD.search(term):
            parent_side = next((split_side(a)[1] for a in reversed(m.path) if split_side(a)[1]), "")
            if parent_side:
                side = parent_side
            elif term in sided_terms:
                side = "l" if float(np.mean(verts[:, 0])) > 0 else "r"  # LPS: +x is patient left
        if (side == "r" and verts[:, 0].min() > 0) or (side == "l" and verts[:, 0].max() < 0):
            # wholly on the other side: the source swapped the suffixes (e.g. zanatomy-joints'
            # lateral temporomandibular ligaments); the geometry decides
            log.info("%s: %r lies wholly on the %s side; named for that side", source.name, m.node,
                        "left" if side == "r" else "right")
            side = "l" if side == "r" else "r"
            skipped["side_fixed"] += 1
        groups.setdefault(part_name(term, side), []).append((term, side, verts, m.faces))
    parts = []
    for name, pieces in groups.items():
        term, side = pieces[0][0], pieces[0][1]
        offsets = np.cumsum([0] + [len(p[2]) for p in pieces[:-1]])
        vertices = np.concatenate([p[2] for p in pieces])
        faces = np.concatenate([p[3] + int(o) for p, o in zip(pieces, offsets, strict=True)]).astype(np.int32)
        parts.append(AtlasPart(name, term, side, source.name, _readonly(vertices), _readonly(faces)))
    stats = {
        "parts": len(parts), "triangles": int(sum(p.n_triangles for p in parts)),
        "skipped_brain": skipped["brain"], "skipped_excluded": skipped["excluded"],
        "skipped_unnamed": skipped["unnamed"], "side_fixed": skipped["side_fixed"],
        "seconds": round(time.perf_counter() - t0, 3),
    }
    log.info("%s: %d parts, %d triangles (skipped: %d brain, %d excluded, %d unnamed) in %.2f s",
             source.name, stats["parts"], stats["triangles"], skipped["brain"], skipped["excluded"],
             skipped["unnamed"], stats["seconds"])
    return parts, stats


def _readonly(a: np.ndarray) -> np.ndarray:
    a.setflags(write=False)
    return a


def _priority(part: AtlasPart) -> tuple[int, int]:
    """Lower wins: zanatomy-skeletal (bones), then the uoft files, then the other zanatomy files."""
    order = [f.name for f in FILES]
    rank = 0 if part.source == SKELETAL_SOURCE else 1 if part.source.startswith("uoft-") else 2
    return rank, order.index(part.source) if part.source in order else len(order)


def assemble(all_parts: Iterable[AtlasPart], stats: dict[str, dict[str, Any]] | None = None,
             folder: Path | None = None) -> Atlas:
    """One `Atlas` from parts of several files: the preferred copy of each name in `parts`, the
    others in `duplicates`."""
    by_name: dict[str, list[AtlasPart]] = {}
    for part in all_parts:
        by_name.setdefault(part.name, []).append(part)
    parts: dict[str, AtlasPart] = {}
    duplicates: dict[str, list[AtlasPart]] = {}
    for name in sorted(by_name):
        ranked = sorted(by_name[name], key=_priority)
        parts[name] = ranked[0]
        if len(ranked) > 1:
            duplicates[name] = ranked[1:]
    return Atlas(parts, duplicates, stats or {}, folder)


def source_paths(data_dir: Path) -> dict[str, Path]:
    """The eight atlas files in `data_dir`; AtlasError naming those missing (and how to fetch them)."""
    paths = {f.name: data_dir / f.name for f in FILES}
    missing = [n for n, p in paths.items() if not p.is_file()]
    if missing:
        raise AtlasError(f"atlas files missing in {data_dir}: {', '.join(missing)} "
                         "(run `needlesafe atlas fetch` to download them)", tuple(missing))
    return paths


def convert_atlas(data_dir: Path, verify: bool = True) -> Atlas:
    """Convert the eight files in `data_dir` (no cache). With `verify`, each file's SHA-256 must be
    the pinned one (`sources.FILES`), else AtlasError."""
    paths = source_paths(data_dir)
    all_parts: list[AtlasPart] = []
    stats: dict[str, dict[str, Any]] = {}
    for source in FILES:
        path = paths[source.name]
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise PackError(f"{source.name}: cannot be read ({exc.strerror or exc})") from None
        if verify and hashlib.sha256(data).hexdigest() != source.sha256:
            raise AtlasError(f"{source.name}: SHA-256 does not match the pinned file "
                             "(damaged or different download; run `needlesafe atlas fetch` again)",
                             (source.name,))
        parts, stats[source.name] = convert_file(path, source, data)
        all_parts.extend(parts)
    return assemble(all_parts, stats)


# --- cache ----------------------------------------------------------------------------------------

def code_hash() -> str:
    """SHA-256 of the code that shapes the converted atlas (glb.py, convert.py, sources.py)."""
    here = Path(__file__).resolve().parent
    h = hashlib.sha256()
    for name in ("glb.py", "convert.py", "sources.py"):
        h.update((here / name).read_bytes())
    return h.hexdigest()


def cache_key() -> str:
    """Folder name of the converted atlas: the pinned sources' SHA-256 and the code's hash."""
    h = hashlib.sha256()
    for f in FILES:
        h.update(f"{f.name}:{f.sha256}\n".encode())
    h.update(code_hash().encode())
    return f"v{CACHE_VERSION}-{h.hexdigest()[:16]}"


def default_cache_dir() -> Path:
    from needlesafe.meshes.builtin import cache_dir

    return cache_dir() / "atlas"


def default_data_dir() -> Path:
    """Where `needlesafe atlas fetch` puts the files (``$NEEDLESAFE_DATA``, else the XDG data folder)."""
    from needlesafe.meshes.paths import atlas_dir

    return atlas_dir()


def _npz_name(source: str) -> str:
    return source.removesuffix(".glb") + ".npz"


def write_cache(atlas: Atlas, folder: Path) -> None:
    """Write `atlas` into `folder` (must not exist yet) atomically: a temporary sibling folder,
    then one rename. One ``.npz`` per source file (concatenated arrays) plus ``index.json``."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    try:
        entries = []
        every = [(p, True) for p in atlas.parts.values()]
        every += [(d, False) for dups in atlas.duplicates.values() for d in dups]
        for source in sorted({p.source for p, _ in every}):
            mine = sorted(((p, primary) for p, primary in every if p.source == source), key=lambda e: e[0].name)
            v0 = f0 = 0
            for part, primary in mine:
                entries.append({"name": part.name, "term": part.term, "side": part.side, "source": source,
                                "primary": primary, "v": [v0, v0 + len(part.vertices)],
                                "f": [f0, f0 + len(part.faces)]})
                v0 += len(part.vertices)
                f0 += len(part.faces)
            np.savez(tmp / _npz_name(source),
                     vertices=np.concatenate([p.vertices for p, _ in mine]).astype(np.float64),
                     faces=np.concatenate([p.faces for p, _ in mine]).astype(np.int32))
        index = {"version": CACHE_VERSION, "key": folder.name, "parts": entries, "stats": atlas.stats}
        (tmp / "index.json").write_text(json.dumps(index, indent=1))
        try:
            os.replace(tmp, folder)
        except OSError:  # another process finished first: keep theirs
            shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def read_cache(folder: Path) -> Atlas:
    """The atlas cached in `folder`; PackError when anything is missing or inconsistent."""
    try:
        index = json.loads((folder / "index.json").read_text())
        if index.get("version") != CACHE_VERSION:
            raise PackError(f"{folder}: cache version {index.get('version')!r}")
        arrays: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        primary: list[AtlasPart] = []
        others: list[AtlasPart] = []
        for e in index["parts"]:
            source = e["source"]
            if source not in arrays:
                with np.load(folder / _npz_name(source), allow_pickle=False) as z:
                    verts, faces = z["vertices"], z["faces"]
                if verts.ndim != 2 or verts.shape[1] != 3 or faces.ndim != 2 or faces.shape[1] != 3:
                    raise PackError(f"{folder}: {source} arrays have the wrong shape")
                verts.setflags(write=False)
                faces.setflags(write=False)
                arrays[source] = (verts, faces)
            verts, faces = arrays[source]
            (v0, v1), (f0, f1) = e["v"], e["f"]
            if not (0 <= v0 < v1 <= len(verts) and 0 <= f0 < f1 <= len(faces)):
                raise PackError(f"{folder}: part {e['name']} lies outside its arrays")
            part = AtlasPart(e["name"], e["term"], e["side"], source, verts[v0:v1], faces[f0:f1])
            (primary if e["primary"] else others).append(part)
        for part in primary + others:  # every index inside its own part's vertices
            if part.faces.size and (part.faces.min() < 0 or part.faces.max() >= len(part.vertices)):
                raise PackError(f"{folder}: part {part.name} has a face index outside its vertices")
    except (OSError, ValueError, KeyError, TypeError, EOFError, zipfile.BadZipFile) as exc:
        if isinstance(exc, PackError):
            raise
        raise PackError(f"{folder}: damaged atlas cache ({type(exc).__name__}: {exc})") from None
    parts = {p.name: p for p in primary}
    duplicates: dict[str, list[AtlasPart]] = {}
    for part in sorted(others, key=_priority):
        duplicates.setdefault(part.name, []).append(part)
    if set(duplicates) - set(parts) or len(parts) != len(primary):
        raise PackError(f"{folder}: damaged atlas cache (inconsistent index)")
    return Atlas(parts, duplicates, index.get("stats", {}), folder)


def load_atlas(data_dir: Path | None = None, cache_dir: Path | None = None) -> Atlas:
    """The converted atlas: read from the cache, or converted from the files in `data_dir` (default:
    the fetched atlas folder) and cached under `cache_dir` (default ``cache_dir()/atlas``).

    Raises AtlasError when files are missing (saying how to fetch them) or do not match their
    pinned size / SHA-256, PackError when a file cannot be read as a GLB. A damaged cache is
    rebuilt; a cache that cannot be written is only logged.
    """
    data_dir = Path(data_dir) if data_dir is not None else default_data_dir()
    cache_root = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    paths = source_paths(data_dir)
    for f in FILES:  # cheap check on every load; the full SHA-256 is checked on conversion
        if paths[f.name].stat().st_size != f.size:
            raise AtlasError(f"{f.name}: {paths[f.name].stat().st_size} bytes, expected {f.size} "
                             "(damaged download; run `needlesafe atlas fetch` again)", (f.name,))
    folder = cache_root / cache_key()
    if folder.exists():
        try:
            return read_cache(folder)
        except PackError as exc:
            log.warning("rebuilding the atlas cache: %s", exc)
            shutil.rmtree(folder, ignore_errors=True)
    atlas = convert_atlas(data_dir)
    try:
        write_cache(atlas, folder)
        atlas.folder = folder if (folder / "index.json").is_file() else None
    except OSError as exc:
        log.warning("atlas cache not written to %s: %s", folder, exc)
    return atlas
