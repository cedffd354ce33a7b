"""The published depths beside the model's: the same sentence in the panel's source, `check` (text and
JSON) and the HTML report, for the structure that limits the safe depth at the site."""
from __future__ import annotations

import json

import numpy as np
import pytest

from needlesafe.app import readout
from needlesafe.app.cli import main
from needlesafe.geometry.clearance import ClearanceEngine
from needlesafe.geometry.needle import Needle
from needlesafe.geometry.placement import skin_entry
from needlesafe.meshes.resolve import load_pack


def gb21_needle(scene, depth=20.0):
    tp = next(t for t in scene.trigger_points if t.name == "upper trapezius (GB21)")
    entry = skin_entry(scene, tp.point, from_direction=np.array([0.0, 0.0, 1.0]))  # straight above
    return Needle(entry, np.array([0.0, 0.0, -1.0]), depth, 75.0, 0.30)


@pytest.mark.parametrize("hab, expected", [("lean", "30–50 mm"), ("average", "40–68 mm"), ("high", "52–85 mm")])
def test_gb21_sentence_names_the_published_range(hab, expected):
    scene = load_pack(f"shoulder:{hab}")
    report = ClearanceEngine(scene).report(gb21_needle(scene))
    assert report.path.limiting_structure == "pleura"
    text = readout.published_sentence(report, scene)
    assert f"Published skin to pleura at GB21: {expected}" in text
    assert "Chou et al. 2015" in text and text.endswith(readout.PATIENTS_VARY)
    assert readout.published_sentence(report, None) == ""
    lines = readout.summary_lines(report, scene)
    assert lines.index(text) == lines.index(readout.safe_depth_sentence(report)) + 1


def test_no_published_figure_no_sentence():
    scene = load_pack("gluteal")
    engine = ClearanceEngine(scene)
    far = Needle(scene.bounds()[1] + 500.0, np.array([0.0, 0.0, 1.0]), 1.0, 50.0, 0.3)  # nothing near
    report = engine.report(far)
    assert readout.published_sentence(report, None) == ""
    assert all(not s.startswith("Published") for s in readout.summary_lines(report, None))
    # a structure without a published depth at this site: no sentence
    from needlesafe.meshes.facts import depth_facts

    assert depth_facts(scene, "superior_gluteal_nerve") == []


def test_check_command_says_the_same_words(capsys):
    scene = load_pack("shoulder:average")
    n = gb21_needle(scene)
    report = ClearanceEngine(scene).report(n)
    sentence = readout.published_sentence(report, scene)
    entry = [repr(float(x)) for x in n.entry_lps]
    args = ["check", "--pack", "shoulder:average", "--entry", *entry, "--direction", "0", "0", "-1",
            "--depth", "20", "--length", "75"]
    assert main(args) == 0
    assert sentence in capsys.readouterr().out.splitlines()
    assert main([*args, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["published"] == sentence


def test_html_report_says_the_same_words():
    from needlesafe.app.report_html import section_for

    scene = load_pack("shoulder:average")
    engine = ClearanceEngine(scene)
    n = gb21_needle(scene)
    html_text = section_for(engine, "GB21", n)
    assert "Published skin to pleura at GB21: 40–68 mm" in html_text
