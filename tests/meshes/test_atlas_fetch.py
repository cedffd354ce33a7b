"""The atlas download path, for real: a server on 127.0.0.1 serving ../shared/atlas-source (or an
altered copy of it), pooch downloading, SHA-256 verification, atomic placement, cancel, `--from`.
Skipped cleanly when ../shared/atlas-source is absent."""
from __future__ import annotations

import hashlib

from needlesafe.meshes.atlas.fetch import atlas_present, status
from needlesafe.meshes.atlas.sources import FILES


def test_atlas_data_fixture_holds_all_eight_verified(atlas_data):
    for f in FILES:
        assert hashlib.sha256((atlas_data / f.name).read_bytes()).hexdigest() == f.sha256
    assert atlas_present(atlas_data)
    assert all(s.ok and s.fetched_from and s.fetched_from.startswith("http://127.0.0.1:") for s in status(atlas_data))
