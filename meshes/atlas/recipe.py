"""Region recipes: the project's own TOML files that cut the converted atlas into packs.

A recipe is read and checked here (`load_recipe`); `build.py` turns it into a scene. Every problem
(an unknown key, a missing value, a number that is not a finite number, a crop box inside out, a
habitus without a fat figure) is a `PackError` naming the recipe file and the key.

Recipe format (one file per region in ``meshes/atlas/recipes/``; all lengths mm, LPS frame:
+x patient left, +y posterior, +z superior)::

    id = "gluteal"                      # the REGION of atlas:REGION[:HABITUS]; the file is gluteal.toml
    title = "Gluteal region (right)"
    body_area = "hip and pelvis"        # groups regions in the app's list
    description = "..."                 # optional
    structures = ["gluteus_maximus_muscle_r", "hip_bone_r", "sciatic_nerve_*"]
                                        # atlas part names or fnmatch patterns; each must match a part
    optional = ["pudendal_nerve_r"]     # taken when the atlas has them (patterns too)
    mirror = ["rhomboid_*_r"]           # right-only parts also mirrored to the left (x -> -x, _r -> _l)
    facts = ["gluteal_fat"]             # ids of meshes/anatomy_facts.md rows that apply
    view = "posterior"                  # optional: default camera (app/camera.py VIEWS key)

    [crop]                              # triangles whose centre lies outside are cut away
    min = [-200.0, -80.0, 700.0]
    max = [40.0, 160.0, 1060.0]

    [fat]                               # subcutaneous fat (skin envelope distance), mm, per habitus
    lean = 9.0
    average = 16.0
    high = 32.0
    source = "gluteal_fat"              # the anatomy_facts.md row id the figures come from

    [needle]                            # optional default needle
    length_mm = 75.0
    gauge_mm = 0.3

    [structure.sciatic_nerve_r]         # optional overrides of structures.toml for this region
    margin_mm = 5.0                     # keys: role, critical, margin_mm, colour

    [[landmark]]                        # a point ON the bone's surface (a vertex or closest point)
    name = "PSIS"
    bone = "hip_bone_r"
    extreme = [0.0, 1.0, 0.0]           # the bone's vertex farthest along this direction ...
    near = [-40.0, 80.0, 950.0]         # ... among its vertices within `within_mm` of `near`;
    within_mm = 25.0                    # `near` alone: the bone surface point nearest to it

    [[generated]]                       # a structure made from published dimensions, not the atlas
    name = "generated_kidney_r"         # (e.g. the kidney, whose atlas mesh may not be used);
    shape = "ellipsoid"                 # its role comes from structures.toml like any part
    centre = [-85.0, 18.0, 1075.0]
    length_mm = 104.0                   # along `axis`
    width_mm = 69.0                     # along `width_axis` (made square to `axis`)
    thickness_mm = 34.0                 # square to both
    axis = [0.25, 0.2, 1.0]
    width_axis = [1.0, 0.0, 0.0]
    source = "kidney_dimensions"        # the anatomy_facts.md row its dimensions come from

    [[generated]]                       # an UNMODELLED ZONE: where a danger structure the atlas lacks
    name = "unmodelled_superior_gluteal_vessels_r"  # really runs (role "unmodelled" in
    shape = "capsule"                   # structures.toml: unmodelled_*); a needle touching it or its
    start = { landmark = "PSIS", offset = [-30.0, -20.0, -40.0] }  # margin reads UNKNOWN
    end = [-95.0, 55.0, 930.0]          # a point: [x, y, z] (LPS), "landmark name", or a table with
    radius_mm = 6.0                     # `landmark` or `bone` (+ `extreme` / `near` / `within_mm`,
                                        # as [[landmark]]) and an optional `offset` [x, y, z] mm
    note = "the superior gluteal artery and vein are not in this model; they leave the pelvis ..."
    source = "superior_gluteal_vessels_course"  # the anatomy_facts.md row of where it runs

    [[trigger_point]]                   # the point inside `muscle` (depth_mm under its surface)
    name = "piriformis"                 # nearest to `near` that lies >= min_bone_mm from every
    muscle = "piriformis_muscle_r"      # bone and outside every critical structure's margin
                                        # (plus clear_mm)
    near = [-90.0, 40.0, 920.0]
    within_mm = 40.0                    # optional: search radius (default 40), min_bone_mm (3),
                                        # clear_mm (1), depth_mm (1.5: how far inside the muscle)

Structure names in `[structure.*]`, landmarks and trigger points are the pack's names: atlas names,
and ``*_l`` for mirrored parts.
"""
from __future__ import annotations

import math
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from ..habitus import HABITUS_PRESETS
from ..types import ROLES, PackError

RECIPES_DIR = Path(__file__).resolve().parent / "recipes"
STRUCTURES_TOML = Path(__file__).resolve().parent / "structures.toml"

_TOP = {"id", "title", "body_area", "description", "structures", "optional", "mirror", "facts", "view",
        "crop", "fat", "needle", "structure", "landmark", "trigger_point", "generated"}
_REQUIRED = ("id", "title", "body_area", "structures", "crop", "fat")
_OVERRIDE = {"role", "critical", "margin_mm", "colour"}
_LANDMARK = {"name", "bone", "extreme", "near", "within_mm"}
_TRIGGER = {"name", "muscle", "near", "within_mm", "min_bone_mm", "clear_mm", "depth_mm"}
_GENERATED = {"name", "shape", "centre", "length_mm", "width_mm", "thickness_mm", "axis", "width_axis", "source"}
_CAPSULE = {"name", "shape", "start", "end", "radius_mm", "note", "source"}
_POINT = {"landmark", "bone", "extreme", "near", "within_mm", "offset"}
#: the shapes of [[generated]] structures
SHAPES = ("ellipsoid", "capsule")
_VIEWS = ("posterior", "anterior", "lateral", "superior", "oblique")


@dataclass(frozen=True)
class LandmarkRule:
    name: str
    bone: str
    extreme: np.ndarray | None  #: (3,) unit direction, or None
    near: np.ndarray | None  #: (3,) mm, or None
    within_mm: float


@dataclass(frozen=True)
class TriggerRule:
    name: str
    muscle: str
    near: np.ndarray  #: (3,) mm
    within_mm: float = 40.0
    min_bone_mm: float = 3.0
    clear_mm: float = 1.0  #: extra room beyond each critical structure's margin
    depth_mm: float = 1.5  #: at least this far inside the muscle's surface


@dataclass(frozen=True)
class GeneratedRule:
    """An ellipsoid from published dimensions (mm): centre, full length / width / thickness along
    the orthonormal frame (axis, width_axis, their cross product)."""

    name: str
    centre: np.ndarray
    size_mm: np.ndarray  #: (3,) length, width, thickness
    frame: np.ndarray  #: (3, 3) rows: length, width, thickness directions
    source: str


@dataclass(frozen=True)
class PointRule:
    """A point of a recipe: fixed LPS coordinates (`point`), a landmark of the recipe by name, or a
    point on a bone's surface (as `LandmarkRule`), plus `offset` (3,) mm."""

    point: np.ndarray | None = None  #: (3,) mm
    landmark: str | None = None
    bone: LandmarkRule | None = None
    offset: np.ndarray = field(default_factory=lambda: np.zeros(3))


@dataclass(frozen=True)
class CapsuleRule:
    """A capsule (the points within `radius_mm` of the segment start-end): an unmodelled zone.
    `note` says what the model does not contain and where it really runs; `source` is the
    anatomy_facts.md row of that course."""

    name: str
    start: PointRule
    end: PointRule
    radius_mm: float
    note: str
    source: str


@dataclass(frozen=True)
class Recipe:
    """A validated recipe; `text` is the file's text (part of the build cache key)."""

    id: str
    title: str
    body_area: str
    path: Path
    text: str
    structures: tuple[str, ...]
    crop_min: np.ndarray
    crop_max: np.ndarray
    fat_mm: dict[str, float]
    fat_source: str
    optional: tuple[str, ...] = ()
    mirror: tuple[str, ...] = ()
    facts: tuple[str, ...] = ()
    description: str = ""
    view: str = "posterior"
    needle: dict[str, float] = field(default_factory=dict)
    overrides: dict[str, dict[str, Any]] = field(default_factory=dict)
    landmarks: tuple[LandmarkRule, ...] = ()
    trigger_points: tuple[TriggerRule, ...] = ()
    generated: tuple[GeneratedRule | CapsuleRule, ...] = ()


class _Reader:
    """Checks values of one recipe file, naming the file and the key in every error."""

    def __init__(self, path: Path):
        self.path = path

    def fail(self, key: str, message: str) -> PackError:
        return PackError(f"recipe {self.path.name}: '{key}': {message}")

    def keys(self, table: Any, allowed: set[str], key: str) -> dict:
        if not isinstance(table, dict):
            raise self.fail(key, "expected a table")
        unknown = sorted(set(table) - allowed)
        if unknown:
            raise self.fail(f"{key}.{unknown[0]}" if key else unknown[0],
                            f"unknown key (allowed: {', '.join(sorted(allowed))})")
        return table

    def text(self, value: Any, key: str) -> str:
        if not isinstance(value, str) or not value.strip():
            raise self.fail(key, "expected non-empty text")
        return value

    def names(self, value: Any, key: str) -> tuple[str, ...]:
        if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
            raise self.fail(key, "expected a list of names")
        return tuple(value)

    def number(self, value: Any, key: str, low: float = -math.inf, high: float = math.inf) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise self.fail(key, f"expected a finite number, got {value!r}")
        if not low <= value <= high:
            raise self.fail(key, f"{value} is outside [{low}, {high}]")
        return float(value)

    def point(self, value: Any, key: str) -> np.ndarray:
        if not isinstance(value, list) or len(value) != 3:
            raise self.fail(key, "expected three numbers [x, y, z]")
        return np.array([self.number(v, key, -1e5, 1e5) for v in value])


def load_recipe(path: str | Path) -> Recipe:
    """Read and validate one recipe file (see the module docstring for the format)."""
    path = Path(path)
    r = _Reader(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise PackError(f"recipe {path}: cannot read it ({e})") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise PackError(f"recipe {path.name}: not valid TOML ({e})") from None
    r.keys(data, _TOP, "")
    for k in _REQUIRED:
        if k not in data:
            raise r.fail(k, "missing")
    rid = r.text(data["id"], "id")
    if rid != path.stem:
        raise r.fail("id", f"'{rid}' differs from the file name '{path.stem}'")
    structures = r.names(data["structures"], "structures")
    if not structures:
        raise r.fail("structures", "empty")
    crop = r.keys(data["crop"], {"min", "max"}, "crop")
    if "min" not in crop or "max" not in crop:
        raise r.fail("crop", "needs both 'min' and 'max'")
    lo, hi = r.point(crop["min"], "crop.min"), r.point(crop["max"], "crop.max")
    if np.any(lo >= hi):
        raise r.fail("crop", "every 'min' coordinate must be below 'max'")
    fat = r.keys(data["fat"], set(HABITUS_PRESETS) | {"source"}, "fat")
    fat_mm = {}
    for h in HABITUS_PRESETS:
        if h not in fat:
            raise r.fail(f"fat.{h}", "missing (one figure per habitus preset)")
        fat_mm[h] = r.number(fat[h], f"fat.{h}", 0.0, 100.0)
    fat_source = r.text(fat.get("source"), "fat.source")
    view = data.get("view", "posterior")
    if view not in _VIEWS:
        raise r.fail("view", f"'{view}' is not one of {', '.join(_VIEWS)}")
    needle = {}
    if "needle" in data:
        nd = r.keys(data["needle"], {"length_mm", "gauge_mm"}, "needle")
        needle = {k: r.number(v, f"needle.{k}", 1e-3, 300.0) for k, v in nd.items()}
    overrides: dict[str, dict[str, Any]] = {}
    for name, ov in r.keys(data.get("structure", {}), set(data.get("structure", {})), "structure").items():
        key = f"structure.{name}"
        r.keys(ov, _OVERRIDE, key)
        checked: dict[str, Any] = {}
        if "role" in ov:
            if ov["role"] not in ROLES:
                raise r.fail(f"{key}.role", f"'{ov['role']}' is not one of {', '.join(ROLES)}")
            checked["role"] = ov["role"]
        if "critical" in ov:
            if not isinstance(ov["critical"], bool):
                raise r.fail(f"{key}.critical", "expected true or false")
            checked["critical"] = ov["critical"]
        if "margin_mm" in ov:
            checked["margin_mm"] = r.number(ov["margin_mm"], f"{key}.margin_mm", 0.0, 50.0)
        if "colour" in ov:
            checked["colour"] = check_colour(ov["colour"], lambda m, k=f"{key}.colour": r.fail(k, m))
        overrides[name] = checked
    landmarks = []
    for i, lm in enumerate(_list_of_tables(r, data.get("landmark", []), "landmark")):
        key = f"landmark[{i}]"
        r.keys(lm, _LANDMARK, key)
        name = r.text(lm.get("name"), f"{key}.name")
        extreme, near, within = _bone_point(r, lm, key, f"landmark '{name}'")
        landmarks.append(LandmarkRule(name, r.text(lm.get("bone"), f"{key}.bone"), extreme, near, within))
    triggers = []
    for i, tp in enumerate(_list_of_tables(r, data.get("trigger_point", []), "trigger_point")):
        key = f"trigger_point[{i}]"
        r.keys(tp, _TRIGGER, key)
        if "near" not in tp:
            raise r.fail(f"{key}.near", "missing")
        triggers.append(TriggerRule(
            r.text(tp.get("name"), f"{key}.name"), r.text(tp.get("muscle"), f"{key}.muscle"),
            r.point(tp["near"], f"{key}.near"),
            r.number(tp.get("within_mm", 40.0), f"{key}.within_mm", 1.0, 200.0),
            r.number(tp.get("min_bone_mm", 3.0), f"{key}.min_bone_mm", 0.0, 50.0),
            r.number(tp.get("clear_mm", 1.0), f"{key}.clear_mm", 0.0, 50.0),
            r.number(tp.get("depth_mm", 1.5), f"{key}.depth_mm", 0.5, 50.0),
        ))
    generated: list[GeneratedRule | CapsuleRule] = []
    for i, g in enumerate(_list_of_tables(r, data.get("generated", []), "generated")):
        key = f"generated[{i}]"
        shape = g.get("shape") if isinstance(g, dict) else None
        if shape not in SHAPES:
            raise r.fail(f"{key}.shape", f"{shape!r} is not a known shape ({', '.join(SHAPES)})")
        if shape == "capsule":
            generated.append(_capsule(r, g, key))
            continue
        r.keys(g, _GENERATED, key)
        missing = sorted(_GENERATED - set(g))
        if missing:
            raise r.fail(f"{key}.{missing[0]}", "missing")
        axis = r.point(g["axis"], f"{key}.axis")
        width = r.point(g["width_axis"], f"{key}.width_axis")
        if np.linalg.norm(axis) == 0:
            raise r.fail(f"{key}.axis", "a direction must not be zero")
        axis = axis / np.linalg.norm(axis)
        width = width - (width @ axis) * axis
        if np.linalg.norm(width) < 1e-6:
            raise r.fail(f"{key}.width_axis", "must not be parallel to 'axis'")
        width = width / np.linalg.norm(width)
        size = np.array([r.number(g[k], f"{key}.{k}", 1.0, 500.0) for k in ("length_mm", "width_mm", "thickness_mm")])
        generated.append(GeneratedRule(r.text(g["name"], f"{key}.name"), r.point(g["centre"], f"{key}.centre"),
                                       size, np.stack([axis, width, np.cross(axis, width)]),
                                       r.text(g["source"], f"{key}.source")))
    for rule in generated:
        for end in (rule.start, rule.end) if isinstance(rule, CapsuleRule) else ():
            if end.landmark is not None and end.landmark not in [lm.name for lm in landmarks]:
                raise r.fail(f"generated.{rule.name}", f"no [[landmark]] named '{end.landmark}' in this recipe")
    for key, names in (("landmark", [lm.name for lm in landmarks]), ("trigger_point", [t.name for t in triggers]),
                       ("generated", [g.name for g in generated])):
        dup = {n for n in names if names.count(n) > 1}
        if dup:
            raise r.fail(key, f"duplicate name '{sorted(dup)[0]}'")
    return Recipe(
        id=rid, title=r.text(data["title"], "title"), body_area=r.text(data["body_area"], "body_area"),
        path=path, text=text, structures=structures, crop_min=lo, crop_max=hi, fat_mm=fat_mm,
        fat_source=fat_source,
        optional=r.names(data.get("optional", []), "optional"), mirror=r.names(data.get("mirror", []), "mirror"),
        facts=r.names(data.get("facts", []), "facts"),
        description=r.text(data["description"], "description") if "description" in data else "",
        view=view, needle=needle, overrides=overrides, landmarks=tuple(landmarks), trigger_points=tuple(triggers),
        generated=tuple(generated),
    )


def _bone_point(r: _Reader, table: dict, key: str, what: str):
    """(extreme unit direction or None, near point or None, within_mm) of a point on a bone's surface
    (a landmark, or a capsule end given by its bone); `what` names it in the error when both are missing."""
    extreme = near = None
    if "extreme" in table:
        extreme = r.point(table["extreme"], f"{key}.extreme")
        if np.linalg.norm(extreme) == 0:
            raise r.fail(f"{key}.extreme", "a direction must not be zero")
        extreme = extreme / np.linalg.norm(extreme)
    if "near" in table:
        near = r.point(table["near"], f"{key}.near")
    if extreme is None and near is None:
        raise r.fail(key, f"{what} needs 'extreme', 'near' or both")
    within = r.number(table.get("within_mm", 30.0), f"{key}.within_mm", 0.1, 1000.0)
    return extreme, near, within


def _point_rule(r: _Reader, value: Any, key: str) -> PointRule:
    """A capsule's end: [x, y, z], "landmark name", or {landmark | bone (+ extreme, near,
    within_mm), offset}."""
    if isinstance(value, list):
        return PointRule(point=r.point(value, key))
    if isinstance(value, str):
        return PointRule(landmark=r.text(value, key))
    r.keys(value, _POINT, key)
    offset = r.point(value["offset"], f"{key}.offset") if "offset" in value else np.zeros(3)
    if ("landmark" in value) == ("bone" in value):
        raise r.fail(key, "needs exactly one of 'landmark' and 'bone' (or give [x, y, z])")
    if "landmark" in value:
        extra = sorted(set(value) & {"extreme", "near", "within_mm"})
        if extra:
            raise r.fail(f"{key}.{extra[0]}", "belongs to a 'bone' point, not a 'landmark' one")
        return PointRule(landmark=r.text(value["landmark"], f"{key}.landmark"), offset=offset)
    extreme, near, within = _bone_point(r, value, key, "a 'bone' point")
    bone = LandmarkRule(key, r.text(value["bone"], f"{key}.bone"), extreme, near, within)
    return PointRule(bone=bone, offset=offset)


def _capsule(r: _Reader, g: dict, key: str) -> CapsuleRule:
    r.keys(g, _CAPSULE, key)
    missing = sorted(_CAPSULE - set(g))
    if missing:
        raise r.fail(f"{key}.{missing[0]}", "missing")
    start, end = _point_rule(r, g["start"], f"{key}.start"), _point_rule(r, g["end"], f"{key}.end")
    if start.point is not None and end.point is not None and np.linalg.norm(end.point - start.point) < 1.0:
        raise r.fail(f"{key}.end", "the capsule's two points must lie at least 1 mm apart")
    return CapsuleRule(r.text(g["name"], f"{key}.name"), start, end,
                       r.number(g["radius_mm"], f"{key}.radius_mm", 0.5, 100.0),
                       r.text(g["note"], f"{key}.note"), r.text(g["source"], f"{key}.source"))


def _list_of_tables(r: _Reader, value: Any, key: str) -> list[dict]:
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise r.fail(key, f"expected [[{key}]] tables")
    return value


def check_colour(value: Any, fail) -> str:
    """'#rrggbb' or fail(message)."""
    if not (isinstance(value, str) and len(value) == 7 and value[0] == "#"
            and all(c in "0123456789abcdefABCDEF" for c in value[1:])):
        raise fail(f"expected a colour '#rrggbb', got {value!r}")
    return value


def recipe_ids() -> list[str]:
    """The shipped recipes' ids (file stems), sorted."""
    return sorted(p.stem for p in RECIPES_DIR.glob("*.toml"))


def recipe_path(region: str) -> Path:
    path = RECIPES_DIR / f"{region}.toml"
    if not path.is_file():
        raise PackError(f"no atlas region '{region}' (regions: {', '.join(recipe_ids())})")
    return path


# --- the mapping table ----------------------------------------------------------------------------

@dataclass(frozen=True)
class PartStyle:
    """Role, critical flag, margin and colour of an atlas part (structures.toml)."""

    role: str
    critical: bool
    margin_mm: float
    colour: str


def load_structure_table(path: Path = STRUCTURES_TOML) -> list[tuple[str, PartStyle]]:
    """The mapping table, in file order: [(fnmatch pattern, style)]; the first matching pattern wins.

    structures.toml holds ``[[part]]`` tables with ``match`` (a name or fnmatch pattern) and
    ``role``; ``critical``, ``margin_mm`` and ``colour`` default by role (meshes/types.py)."""
    from ..types import CRITICAL_ROLES, DEFAULT_COLOUR, DEFAULT_MARGIN_MM

    r = _Reader(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise PackError(f"{path.name}: cannot read it ({e})") from None
    r.keys(data, {"part"}, "")
    out = []
    for i, entry in enumerate(_list_of_tables(r, data.get("part", []), "part")):
        key = f"part[{i}]"
        r.keys(entry, {"match", "role", "critical", "margin_mm", "colour", "note"}, key)
        pattern = r.text(entry.get("match"), f"{key}.match")
        role = entry.get("role")
        if role not in ROLES:
            raise r.fail(f"{key}.role", f"{role!r} is not one of {', '.join(ROLES)}")
        critical = entry.get("critical", role in CRITICAL_ROLES)
        if not isinstance(critical, bool):
            raise r.fail(f"{key}.critical", "expected true or false")
        margin = r.number(entry.get("margin_mm", DEFAULT_MARGIN_MM.get(role, 0.0) if critical else 0.0),
                          f"{key}.margin_mm", 0.0, 50.0)
        colour = check_colour(entry.get("colour", DEFAULT_COLOUR[role]), lambda m, k=key: r.fail(f"{k}.colour", m))
        out.append((pattern, PartStyle(role, critical, margin, colour)))
    return out
