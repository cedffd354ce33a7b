"""Fixtures for the meshes tests: the converted atlas, once per session."""
from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def atlas(atlas_data, tmp_path_factory):
    """The real atlas converted once per session (`load_atlas` into a fresh cache folder): an
    `Atlas` of named parts in LPS mm. Skips cleanly when ../shared/atlas-source is absent.
    ``atlas.folder`` is its cache folder (loading it again reads the cache)."""
    from needlesafe.meshes.atlas.convert import load_atlas

    return load_atlas(atlas_data, tmp_path_factory.mktemp("atlas-cache"))


@pytest.fixture(scope="module")
def scenes(atlas):
    """(region, habitus="average") -> the atlas region's AnatomyScene, built once per module
    (`build.atlas_scene` also keeps built scenes in memory across modules)."""
    from needlesafe.meshes.atlas import build

    cache: dict = {}

    def get(region, habitus="average"):
        if (region, habitus) not in cache:
            cache[region, habitus] = build.atlas_scene(f"atlas:{region}:{habitus}", atlas=atlas)
        return cache[region, habitus]

    return get


@pytest.fixture(scope="module")
def engines(scenes):
    """(region, habitus="average") -> ClearanceEngine of that scene, built once per module."""
    from needlesafe.geometry.clearance import ClearanceEngine

    cache: dict = {}

    def get(region, habitus="average"):
        if (region, habitus) not in cache:
            cache[region, habitus] = ClearanceEngine(scenes(region, habitus))
        return cache[region, habitus]

    return get
