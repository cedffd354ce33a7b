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
