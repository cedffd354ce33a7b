"""`needlesafe check` lists the engine's events: in --json as "events", in the table one line each."""
import json

import pytest

from needlesafe.app.cli import main
from needlesafe.app.readout import EVENT_LABELS, event_lines, event_sentence
from needlesafe.geometry.clearance import ClearanceEngine
from needlesafe.geometry.events import KINDS, events_for
from needlesafe.geometry.needle import Needle
from needlesafe.meshes.resolve import load_pack

# the classic mistake of the gluteus medius exercise: low and medial, through the greater sciatic notch
GLUTEAL = ((-88.0, 81.1, 42.0), (0.0, -1.0, 0.0), 75.0, 75.0)
# the classic mistake of the infraspinatus exercise: medial to the scapula, into the pleura
SHOULDER = ((-83.143, 96.82, -106.848), (0.0, -1.0, 0.0), 50.0, 50.0)


def argv(pack, needle, *more):
    (entry, direction, depth, length) = needle
    return ["check", "--pack", pack, "--entry", *map(repr, entry), "--direction", *map(repr, direction),
            "--depth", repr(depth), "--length", repr(length), "--gauge", "0.30", *more]


@pytest.fixture(scope="module")
def gluteal():
    return ClearanceEngine(load_pack("gluteal"))


def test_check_json_lists_the_engines_events(gluteal, capsys):
    assert main(argv("gluteal", GLUTEAL, "--json")) == 0
    data = json.loads(capsys.readouterr().out)
    expected = events_for(gluteal, Needle(*GLUTEAL))
    assert data["events"] == [e.to_dict() for e in expected]
    assert [(e["kind"], e["structure"]) for e in data["events"]] == [("nerve_margin", "sciatic_nerve"),
                                                                     ("nerve_contact", "sciatic_nerve")]
    margin, contact = data["events"]
    assert 0 < margin["depth_mm"] < contact["depth_mm"] <= 75.0
    assert contact["territory"] == "the back of the thigh, the leg and the foot"
    assert contact["depth_mm"] == round(contact["depth_mm"], 2)  # 0.01 mm, rounded toward danger
    assert contact["depth_mm"] <= contact["detail"]["exact_depth_mm"] + 1e-9
    # the structure row agrees: the needle touches the nerve
    assert {r["name"]: r["level"] for r in data["structures"]}["sciatic_nerve"] == "contact"


def test_check_table_lists_events_one_line_each(gluteal, capsys):
    assert main(argv("gluteal", GLUTEAL)) == 0
    out = capsys.readouterr().out
    events = events_for(gluteal, Needle(*GLUTEAL))
    lines = event_lines(events)
    assert lines[0] == "Events along the pass (depth from the skin):"
    assert out.rstrip("\n").splitlines()[-len(lines):] == lines
    assert len(lines) == 1 + len(events)
    assert "nerve contact (sciatic_nerve)" in out and "back of the thigh" in out


def test_check_without_events(capsys):
    # on the skin, not inserted: nothing along the pass
    assert main(argv("gluteal", ((-88.0, 81.1, 42.0), (0.0, -1.0, 0.0), 0.0, 75.0), "--json")) == 0
    assert json.loads(capsys.readouterr().out)["events"] == []
    assert main(argv("gluteal", ((-88.0, 81.1, 42.0), (0.0, -1.0, 0.0), 0.0, 75.0))) == 0
    assert capsys.readouterr().out.rstrip().endswith("Events along the pass: none")


def test_check_json_pleura_puncture_has_its_timeline(capsys):
    assert main(argv("shoulder", SHOULDER, "--json")) == 0
    events = json.loads(capsys.readouterr().out)["events"]
    pleura = [e for e in events if e["kind"] == "pleura_puncture"]
    assert len(pleura) == 1 and pleura[0]["structure"] == "pleura"
    assert [step["when"] for step in pleura[0]["detail"]["timeline"]][0] == "at the time"
    assert "no pain" in pleura[0]["message"].lower()


def test_event_sentence_names_every_kind():
    assert set(EVENT_LABELS) == set(KINDS)
    e = {"kind": "nerve_contact", "structure": "radial_nerve", "depth_mm": 12.3456, "message": "Ouch."}
    assert event_sentence(e) == "12.34 mm — nerve contact (radial_nerve): Ouch."
    assert event_sentence({**e, "kind": "unknown", "structure": None}).startswith("12.34 mm — UNKNOWN")


# what the patient does on each schematic region's classic mistake (the events that must be among them)
MISTAKES = {
    "gluteal-gluteus-medius": {("nerve_margin", "sciatic_nerve"), ("nerve_contact", "sciatic_nerve")},
    "gluteal-piriformis": {("nerve_margin", "sciatic_nerve")},
    "shoulder-anterior-scalene": {("nerve_margin", "brachial_plexus")},
    "shoulder-infraspinatus": {("pleura_puncture", "pleura")},
    "shoulder-upper-trapezius": {("twitch", "upper_trapezius"), ("pleura_puncture", "pleura")},
}


@pytest.fixture(scope="module")
def engines():
    cache = {}

    def get(name):
        if name not in cache:
            cache[name] = ClearanceEngine(load_pack(name))
        return cache[name]

    return get


@pytest.mark.parametrize("exercise_id", sorted(MISTAKES))
def test_classic_mistakes_make_the_patient_respond(engines, exercise_id):
    from needlesafe.app.exercise_check import mistake_needle
    from needlesafe.app.exercises import EXERCISE_DIR, load_exercise
    from needlesafe.meshes.types import TriggerPoint

    path = EXERCISE_DIR / f"{exercise_id}.json"
    raw = json.loads(path.read_text())
    habitus = raw["classic_mistake"].get("habitus")
    engine = engines(raw["pack"] + (f":{habitus}" if habitus else ""))
    ex = load_exercise(path, engine.scene)
    needle = mistake_needle(ex, engine)
    events = events_for(engine, needle, target=TriggerPoint(ex.target_name, ex.target_point, ex.target_structure))
    seen = {(e.kind, e.structure) for e in events}
    assert MISTAKES[exercise_id] <= seen, [event_sentence(e) for e in events]
    assert [e.depth_mm for e in events] == sorted(e.depth_mm for e in events)
    assert all(0.0 <= e.depth_mm <= needle.depth_mm for e in events)
