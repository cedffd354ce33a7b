"""The sentences every surface shows for a clearance report: the window's panel, the command line's
table and the HTML report all call these, so they say the same words (no Qt here).

Distances and depths go through `format_mm` (0.01 mm, rounded toward danger); plain text, the
callers escape it for HTML or Qt rich text.
"""
from __future__ import annotations

from needlesafe.geometry.report import format_mm

DISCLAIMER = "NeedleSafe is an educational trainer, not a clinical device."

#: The offer of real anatomy, shown while the atlas is not on this machine.
ATLAS_OFFER = "Realistic anatomy: download the Z-Anatomy atlas (13 MB, CC BY-SA 4.0)"
#: Credit for the atlas data, wherever its meshes are shown (About, README, every atlas pack).
ATLAS_CREDIT = ("Real anatomy from Z-Anatomy (CC BY-SA 4.0), built on BodyParts3D (The Database Center for Life "
                "Science, CC BY-SA 2.1 JP); exported per region by the UofT Neuromuscular Fellowship and per system "
                "by nqwrc/3d-anatomy. Packs built from it on your machine are CC BY-SA 4.0.")


def needle_sentence(report) -> str:
    """'Needle 0.30 × 75 mm, inserted 60.4 mm', and when a bone stopped it: '— firm stop: stopped on
    hip_bone at 60.4 mm (asked for 65.1 mm; a needle cannot pass through bone)'."""
    n = report.needle
    text = f"Needle {n.gauge_mm:.2f} × {n.length_mm:g} mm, inserted {format_mm(n.depth_mm, 1)} mm"
    stop = report.path.stopped_by
    if stop:
        asked = report.requested_depth_mm if report.requested_depth_mm is not None else n.depth_mm
        text += (f" — firm stop: stopped on {stop['name']} at {format_mm(stop['depth_mm'], 1)} mm "
                 f"(asked for {asked:g} mm; a needle cannot pass through bone)")
    return text


#: The role of a zone where a danger structure the model does not contain really runs.
UNMODELLED = "unmodelled"


def unmodelled_sentence(row) -> str:
    """What an unmodelled zone's row means in words: 'the superior gluteal artery and vein are not in
    this model; they leave the pelvis above piriformis … (the marked zone: unmodelled superior gluteal
    vessels (right), 1.20 mm away)' — the zone's note comes from the pack (`metadata["unmodelled"]`)."""
    note = (row.note or f"what runs in {row.name} is not in this model").rstrip(". ")
    where = "the needle is in it" if row.penetrated else (
        f"{format_mm(row.shaft_distance_mm)} mm away" if row.shaft_distance_mm is not None else "distance unknown")
    return f"{note} (the marked zone: {structure_label(row.name)}, {where})"


def unknown_reasons(report) -> list[str]:
    """Why a report reads UNKNOWN, in words: each unmodelled zone the needle touches or whose margin
    it enters (one sentence per distinct note: a vessel drawn as several zones is said once), then
    the engine's errors."""
    reasons, notes = [], set()
    for row in rows_by_danger(report):
        if row.role == UNMODELLED and row.level == "unknown" and (row.note or row.name) not in notes:
            notes.add(row.note or row.name)
            reasons.append(unmodelled_sentence(row))
    return reasons + [e for e in report.errors if e not in reasons]


def safe_depth_sentence(report) -> str:
    """The safe depth with what limits it; UNKNOWN (treat as danger) with the reason when not known
    (an unmodelled zone: 'UNKNOWN — treat as danger: the superior gluteal artery and vein are not in
    this model; they leave the pelvis above piriformis … (the marked zone: …)')."""
    p = report.path
    if p.safe_depth_mm is None:
        depth = "Safe depth: UNKNOWN — treat as danger"
    else:
        lim = f" (limited by {p.limiting_structure})" if p.limiting_structure else " (the whole needle length)"
        if p.bone_stop_mm is not None and p.bone_stop_mm <= p.safe_depth_mm:
            lim += f"; the bone stop at {format_mm(p.bone_stop_mm)} mm comes first"
        depth = f"Safe depth: {format_mm(p.safe_depth_mm)} mm{lim}"
    if report.level == "unknown":
        why = "; ".join(unknown_reasons(report)) or "the model cannot tell what lies at the tip"
        return f"UNKNOWN — treat as danger: {why}. {depth}"
    return depth


def structure_label(name: str) -> str:
    """A structure's name as a reader says it: 'posterior_femoral_cutaneous_nerve_r' -> 'posterior
    femoral cutaneous nerve (right)', 'vertebra_t7' -> 'vertebra T7' (lists; tables keep the name)."""
    words = [w for w in str(name).split("_") if w]
    side = {"r": " (right)", "l": " (left)"}.get(words[-1], "") if len(words) > 1 else ""
    if side:
        words = words[:-1]
    words = [w.upper() if len(w) <= 3 and w[:1] in "ctls" and w[1:].isdigit() else w for w in words]
    return " ".join(words) + side


PATIENTS_VARY = "Patients vary; this model is one body."


def published_sentence(report, scene) -> str:
    """The published skin depths of the structure that limits the safe depth (else the nearest
    danger structure) at `scene`'s site, from meshes/anatomy_facts.md: 'Published skin to pleura at
    GB21: 40–68 mm (394 adults MRI …; Chou et al. 2015). Patients vary; this model is one body.'
    Empty when no published figure applies."""
    from needlesafe.geometry.clearance import EDGE_OF_MODEL
    from needlesafe.meshes.facts import depth_facts

    name = report.path.limiting_structure
    if not name or name == EDGE_OF_MODEL:
        near = [r for r in rows_by_danger(report) if r.shaft_distance_mm is not None]
        name = near[0].name if near else None
    facts = depth_facts(scene, name) if scene is not None else []
    if not facts:
        return ""
    parts = [f"Published {f.short}: {f.range_text()} ({f.population}; {f.source.split(',')[0]})" for f in facts[:3]]
    return "; ".join(parts) + ". " + PATIENTS_VARY


def bracketing_sentence(report) -> str:
    br = report.path.bracketing
    return f"Bracketing: {br.message or br.verdict}"


def path_sentence(report) -> str:
    """What the needle's line meets, with depths (mm)."""
    hits = ", ".join(f"{h.name} {format_mm(h.depth_mm, 1)}" for h in report.path.first_hits)
    return f"Along the path (mm): {hits or 'nothing within the needle length'}"


#: the panel's headline while a cold start prepares the engine (the anatomy is drawn, no needle yet)
PREPARING = "Overall: UNKNOWN — preparing the clearance engine…"


def overall_sentence(report) -> str:
    return f"Overall: {report.level.upper()}"


STRUCTURE_HEADERS = ("structure", "shaft mm", "tip mm", "level")


def structure_cells(row) -> list[str]:
    """One table row: name, shaft mm, tip mm, level (the same columns everywhere)."""
    return [row.name, format_mm(row.shaft_distance_mm), format_mm(row.tip_distance_mm), row.level.upper()]


def rows_by_danger(report) -> list:
    """The report's structure rows, unknown first, then nearest first."""
    return sorted(report.structures, key=lambda r: (r.shaft_distance_mm is not None, r.shaft_distance_mm or 0.0))


def summary_lines(report, scene=None) -> list[str]:
    """The sentences under the table, in order (with `scene`, the published depths after the safe depth)."""
    published = published_sentence(report, scene)
    return [needle_sentence(report), safe_depth_sentence(report), *([published] if published else []),
            bracketing_sentence(report), path_sentence(report), overall_sentence(report)]


COMPARE_HEADERS = ("needle", "level", "nearest danger", "safe depth mm", "bracketing")


def compare_cells(label: str, report) -> list[str]:
    """One row of the compare table (COMPARE_HEADERS) for a needle called `label`."""
    n = report.needle
    rows = [r for r in report.structures if r.shaft_distance_mm is not None]
    near = min(rows, key=lambda r: r.shaft_distance_mm) if rows else None
    br = report.path.bracketing
    return [
        f"{label}: {n.gauge_mm:.2f}×{n.length_mm:.0f}, {format_mm(n.depth_mm, 1)} mm in",
        report.level.upper(),
        f"{near.name} {format_mm(near.shaft_distance_mm)} mm" if near else "unknown",
        format_mm(report.path.safe_depth_mm),
        br.message or br.verdict,
    ]


def depth_label(report) -> str:
    """The toolbar's depth label: ' 15.0 / 50 mm ', with '(bone) ' when a bone stopped the needle."""
    n = report.needle
    return f" {format_mm(n.depth_mm, 1)} / {n.length_mm:g} mm " + ("(bone) " if report.path.stopped_by else "")


def firm_stop_message(report) -> str | None:
    """The status line when a bone stopped the needle ('firm stop: hip bone'), else None."""
    stop = report.path.stopped_by
    return f"firm stop: {stop['name'].replace('_', ' ')}" if stop else None


def hover_text(scene, name: str) -> str:
    """What the window says about a structure or marker under the mouse."""
    if name.startswith("trigger:"):
        return f"{name[8:]} trigger point (click to aim)"
    if name.startswith("landmark:"):
        return f"landmark: {name[9:]}"
    s = scene.structure(name)
    if s.role == UNMODELLED:
        return f"{name.replace('_', ' ')} (not modelled: a needle here reads UNKNOWN, treat as danger)"
    return f"{name.replace('_', ' ')} ({s.role}{', danger structure' if s.critical else ''})"


def map_summary(smap, length_mm: float) -> str:
    """The status line after a safety map is drawn."""
    danger = int(smap.danger_zone(length_mm).sum())
    unknown = int(smap.not_modelled.sum())
    return (f"Safety map: {danger:,} of {len(smap.points):,} skin points are unsafe for a {length_mm:.0f} mm "
            f"needle (outlined); {unknown:,} not modelled (grey)")


#: What each engine event is called on every surface (geometry/events.py KINDS).
EVENT_LABELS = {
    "bone_contact": "firm stop (bone)",
    "twitch": "local twitch",
    "nerve_margin": "nerve margin",
    "nerve_contact": "nerve contact",
    "vessel_puncture": "vessel puncture",
    "haematoma_compression": "haematoma near a nerve",
    "pleura_puncture": "pleura puncture",
    "danger_contact": "danger structure touched",
    "unknown": "UNKNOWN — treat as danger",
}


def _event_field(event, key):
    return event.get(key) if isinstance(event, dict) else getattr(event, key, None)


def event_sentence(event) -> str:
    """One engine event (a geometry.events.Event or its dict) as one line: '34.84 mm — nerve contact
    (sciatic_nerve): Electric pain shooting into …'. The depth is along the needle from the skin,
    rounded toward danger."""
    kind = str(_event_field(event, "kind"))
    structure = _event_field(event, "structure")
    label = EVENT_LABELS.get(kind, kind.replace("_", " "))
    where = f" ({structure})" if structure else ""
    return f"{format_mm(_event_field(event, 'depth_mm'))} mm — {label}{where}: {_event_field(event, 'message')}"


def event_lines(events) -> list[str]:
    """The events of a pass under a heading, one line each; an empty pass says so (no events is not
    a verdict of safety: the clearance table says that)."""
    if not events:
        return ["Events along the pass: none"]
    return ["Events along the pass (depth from the skin):", *("  " + event_sentence(e) for e in events)]


def patient_words(event) -> str | None:
    """What the patient says when `event` (geometry.events.Event) happens, in the first person; None
    when the patient feels nothing to speak of (a firm stop is felt by the practitioner; a punctured
    pleura gives no pain at the time)."""
    kind = str(_event_field(event, "kind"))
    territory = _event_field(event, "territory")
    if kind == "nerve_margin":
        return "“Ah — that's a sharp, electric feeling.”"
    if kind == "nerve_contact":
        where = f" into {territory}" if territory and territory != "along the nerve" else " along my nerve"
        return f"“Ow! An electric shock, shooting{where}!”"
    if kind == "twitch":
        return "“Oh — the muscle jumped. That's the sore spot.”"
    if kind == "vessel_puncture":
        return "“That stings a little.”"
    return None


#: What the practitioner notices for events the patient does not speak of
NOTICED = {
    "bone_contact": "You feel a firm stop: the needle rests on bone.",
    "pleura_puncture": "The patient feels nothing now — a pleura puncture gives no warning at the time.",
    "haematoma_compression": "A swelling grows around the puncture; it is reaching a nerve.",
    "danger_contact": "The needle touches a danger structure.",
    "unknown": "UNKNOWN — the model cannot tell what the needle meets: treat as danger.",
}
