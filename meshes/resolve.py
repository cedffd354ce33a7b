"""Resolve a pack's name to a scene: a folder, a manifest path, a built-in name or a user pack.

`pack.py` reads one pack folder and `builtin.py` builds the generated regions; this module is the
one place that decides which of them a name means, so neither of those imports the other's caller.

Order: a built-in name (``gluteal``, ``shoulder:lean``, ``default``) or an atlas name
(``atlas:gluteal:lean``, built by `atlas.build`) unless a path of that name exists; a folder; a
manifest file (``pack.json``/``pack.toml``, meaning its folder); a folder of that name in the
user's pack folder (``$NEEDLESAFE_PACKS``, see `paths.py`).
"""
from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from .builtin import builtin_names, builtin_scene, is_builtin
from .io import check_path_text
from .pack import MANIFEST_NAMES, read_pack
from .paths import user_dir
from .types import AnatomyScene, PackError


def user_packs_dir() -> Path:
    """Where imported packs live by name: $NEEDLESAFE_PACKS or ~/.local/share/needlesafe/packs."""
    return user_dir("NEEDLESAFE_PACKS", "needlesafe/packs")


def _has_manifest(folder: Path) -> bool:
    return any((folder / m).is_file() for m in MANIFEST_NAMES)


def find_packs(folders: Iterable[str | os.PathLike[str]] = ()) -> list[Path]:
    """Pack folders (holding a manifest) directly inside the user's pack folder and `folders`."""
    out = []
    for root in [user_packs_dir(), *map(Path, folders)]:
        if not root.is_dir():
            continue
        if _has_manifest(root):
            out.append(root)
            continue
        for child in sorted(root.iterdir()):
            if child.is_dir() and _has_manifest(child):
                out.append(child)
    return out


ATLAS_PREFIX = "atlas:"


def atlas_pack(name: str) -> AnatomyScene:
    """An atlas pack, ``atlas:REGION[:HABITUS]``, built from the downloaded atlas by the region's
    recipe (once; cached). PackError for an unknown region or habitus, and when the atlas files
    are not downloaded (saying how to fetch them)."""
    from .atlas.build import atlas_scene, parse_name
    from .atlas.fetch import atlas_dir, atlas_present
    from .errors import AtlasError

    parse_name(name)
    if not atlas_present():
        raise PackError(
            f"{name}: the Z-Anatomy atlas is not downloaded (looked in {atlas_dir()}); "
            "run `needlesafe atlas fetch` (or `needlesafe atlas fetch --from DIR` without internet)"
        )
    try:
        return atlas_scene(name)
    except AtlasError as exc:
        raise PackError(f"{name}: {exc}") from None


def load_pack(source: str | os.PathLike[str]) -> AnatomyScene:
    """Load and validate a pack: a folder path, a manifest path, a built-in pack's name
    ('gluteal', 'shoulder:lean', 'default'), an atlas pack's name ('atlas:gluteal:lean') or the
    name of a pack in the user's pack folder."""
    if isinstance(source, str):
        check_path_text(source, PackError)
    elif not isinstance(source, os.PathLike):
        raise PackError(f"{source!r}: a pack is named by text (a folder or a built-in name)")
    if isinstance(source, str) and is_builtin(source) and not Path(source).exists():
        return builtin_scene(source)
    if isinstance(source, str) and source.startswith(ATLAS_PREFIX) and not Path(source).exists():
        return atlas_pack(source)
    folder = Path(source)
    if folder.is_file() and folder.name in MANIFEST_NAMES:
        folder = folder.parent
    if not folder.is_dir() and isinstance(source, str) and (user_packs_dir() / source).is_dir():
        folder = user_packs_dir() / source
    if not folder.is_dir():
        names = ", ".join(builtin_names())
        raise PackError(f"{source}: no such pack folder (built-in packs: {names})")
    return read_pack(folder)
