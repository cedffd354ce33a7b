"""The facts table read as data, and which published depths apply to a pack and a structure."""
from __future__ import annotations

import math

import pytest

from needlesafe.meshes.facts import depth_facts, facts_for, parse_facts, read_facts
from needlesafe.meshes.resolve import load_pack


def test_every_row_reads():
    rows = read_facts()
    assert len(rows) >= 20
    for f in rows:
        assert f.id and f.region and f.quantity and f.source, f
        assert f.habitus in ("all", "lean", "average", "high"), f
        assert math.isfinite(f.low) and math.isfinite(f.high) and f.low < f.high, f


def test_parse_ignores_prose_and_reads_numbers():
    text = """# title
| id | region | habitus | quantity | low | high | unit | published | population | source |
|---|---|---|---|---|---|---|---|---|---|
| a | r | all | skin to pleura at X (note) | 10 | 2e1 | mm | p | q | Someone et al. 2020, J |
| b | r | all | ratio | n/a | 1 | - | p | q | s |
| a | r | high | same; deeper | 30 | 40 | mm | p2 | same | same |
not a row | a | b |
"""
    text += """
| id | region | habitus | quantity | low | high | unit | published | population | source | check |
|---|---|---|---|---|---|---|---|---|---|---|
| c | r2 | all | skin to nerve | 1 | 2 | mm | p | q | s | measured |
"""
    a, b, a_high, c = parse_facts(text)
    assert (c.id, c.region, c.low, c.source) == ("c", "r2", 1.0, "s")  # a section with one more column
    assert (a.low, a.high, a.short, a.range_text()) == (10.0, 20.0, "skin to pleura at X", "10–20 mm")
    assert a.is_skin_depth and not b.is_skin_depth and math.isnan(b.low)
    # "same" repeats the row of the same id above
    assert a_high.quantity == "skin to pleura at X (note); deeper" and a_high.short == "skin to pleura at X"
    assert (a_high.population, a_high.source, a_high.published) == ("q", "Someone et al. 2020, J", "p2")


@pytest.mark.parametrize("hab, low, high", [("lean", 30, 50), ("average", 40, 68), ("high", 52, 85)])
def test_gb21_pleura_depth_by_habitus(hab, low, high):
    scene = load_pack(f"shoulder:{hab}")
    gb21 = [f for f in depth_facts(scene, "pleura") if f.id == "gb21_skin_to_pleura"]
    assert [(f.low, f.high) for f in gb21] == [(low, high)]
    assert all(f.habitus in ("all", hab) for f in facts_for(scene))


def test_depth_facts_match_by_structure_words():
    glut = load_pack("gluteal")
    assert [f.id for f in depth_facts(glut, "sciatic_nerve")] == ["sciatic_depth_transgluteal"]
    assert [f.id for f in depth_facts(glut, "sciatic_nerve_r")] == ["sciatic_depth_transgluteal"]
    assert depth_facts(glut, "superior_gluteal_nerve") == []
    assert depth_facts(glut, None) == []
    shoulder = load_pack("shoulder")
    assert "supraclavicular_plexus_depth" in [f.id for f in depth_facts(shoulder, "roots_of_brachial_plexus_r")]
