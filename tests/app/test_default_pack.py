"""Which pack the app opens without being told: the atlas gluteal region once the atlas is here."""
from __future__ import annotations

from needlesafe.app import packs
from needlesafe.meshes.atlas.fetch import atlas_present


def test_schematic_default_without_the_atlas():
    assert not atlas_present()  # the tests' data folder is empty
    assert packs.default_pack() == "default"


def test_atlas_default_with_the_atlas(atlas_data, monkeypatch):
    monkeypatch.setenv("NEEDLESAFE_DATA", str(atlas_data))
    assert atlas_present()
    assert packs.default_pack() == packs.ATLAS_DEFAULT_PACK == "atlas:gluteal:average"


def test_gui_command_without_pack_uses_the_default(monkeypatch):
    from needlesafe.app import cli
    from needlesafe.app.qt import startup

    opened = []
    monkeypatch.setattr(startup, "run", lambda pack: opened.append(pack) or 0)
    assert cli.main(["gui"]) == 0
    assert cli.main([]) == 0
    assert cli.main(["gui", "--pack", "shoulder:lean"]) == 0
    assert opened == ["default", "default", "shoulder:lean"]
