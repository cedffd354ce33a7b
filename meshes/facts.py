"""The published figures of `anatomy_facts.md`, read as data: what a pack's site is known to measure
in real patients, so a student sees the published range beside the model's one body.

The table's columns: id, region, habitus (``all`` or a preset), quantity, low, high, unit,
published, population, source. A pack's facts are the rows its metadata lists (atlas packs:
``metadata["facts"]``) or, for the schematic regions, the rows of its region; in both cases only
rows for the pack's habitus (or ``all``).
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

FACTS_MD = Path(__file__).resolve().parent / "anatomy_facts.md"
COLUMNS = ("id", "region", "habitus", "quantity", "low", "high", "unit", "published", "population", "source")
# words too common in structure names to tie a figure to a structure
_GENERIC = {"nerve", "nerves", "muscle", "muscles", "part", "right", "left", "lobe", "head", "superior", "inferior",
            "anterior", "posterior", "lateral", "medial", "artery", "vein", "of", "the", "and"}


@dataclass(frozen=True)
class Fact:
    """One row of the facts table (low/high in `unit`; NaN when a cell is not a number)."""

    id: str
    region: str
    habitus: str
    quantity: str
    low: float
    high: float
    unit: str
    published: str
    population: str
    source: str

    @property
    def short(self) -> str:
        """The quantity up to its first comma or parenthesis: 'skin to pleura at GB21'."""
        return re.split(r"\s*[,(;]", self.quantity, maxsplit=1)[0].strip()

    @property
    def is_skin_depth(self) -> bool:
        """A skin-to-structure depth (what the safe depth is compared with)."""
        return self.quantity.lower().startswith("skin to") and self.unit == "mm"

    def range_text(self) -> str:
        """'40–68 mm'."""
        return f"{self.low:g}–{self.high:g} {self.unit}"


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return math.nan


def parse_facts(text: str) -> list[Fact]:
    """The table rows of a facts markdown text (other lines are ignored)."""
    rows = []
    last: dict[str, dict[str, str]] = {}  # id -> its previous row's cells
    previous: dict[str, str] | None = None
    header: list[str] | None = None  # the columns of the table being read (a section may add some)
    for line in text.splitlines():
        if not line.lstrip().startswith("|"):
            header = None if not line.strip() else header
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if cells and cells[0] == "id":
            header = cells if set(COLUMNS) <= set(cells) else None
            continue
        if header is None or len(cells) != len(header) or set(cells[0]) <= {"-", ":"}:
            continue
        d = dict(zip(header, cells, strict=True))
        before = last.get(d["id"], previous)
        if before is not None:  # "same" (or "same; more") repeats the row above
            for col in ("quantity", "published", "population", "source"):
                if d[col].lower().startswith("same"):
                    d[col] = before[col] + d[col][4:]
        last[d["id"]] = previous = d
        rows.append(Fact(d["id"], d["region"], d["habitus"], d["quantity"], _number(d["low"]), _number(d["high"]),
                         d["unit"], d["published"], d["population"], d["source"]))
    return rows


@lru_cache(maxsize=1)
def read_facts() -> tuple[Fact, ...]:
    """Every row of the shipped `anatomy_facts.md`."""
    return tuple(parse_facts(FACTS_MD.read_text(encoding="utf-8")))


def scene_habitus(scene) -> str | None:
    h = scene.metadata.get("habitus")
    if isinstance(h, dict):
        return h.get("name")
    return h if isinstance(h, str) else None


def facts_for(scene) -> list[Fact]:
    """The rows that apply to `scene`: listed in its metadata (atlas packs) or of its schematic
    region (the scene's name before '-'), for its habitus or all."""
    listed = scene.metadata.get("facts")
    hab = scene_habitus(scene)
    if isinstance(listed, list):
        wanted = set(map(str, listed))
        rows = [f for f in read_facts() if f.id in wanted]
    else:
        region = str(scene.name).split("-", 1)[0]
        rows = [f for f in read_facts() if f.region == region]
    return [f for f in rows if f.habitus == "all" or hab is None or f.habitus == hab]


def _words(name: str) -> set[str]:
    return {w for w in re.split(r"[^a-z0-9]+", name.lower()) if len(w) >= 4 and w not in _GENERIC}


def depth_facts(scene, structure: str | None) -> list[Fact]:
    """The skin-to-structure depths of `scene` that concern `structure` (by a distinctive word of its
    name: 'sciatic_nerve_r' -> 'sciatic', 'roots_of_brachial_plexus_r' -> 'brachial'/'plexus')."""
    if not structure:
        return []
    words = _words(structure)
    out = []
    for f in facts_for(scene):
        if f.is_skin_depth and words & _words(f.short):
            out.append(f)
    return out
