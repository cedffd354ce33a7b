"""The patient responds: events along a needle's pass, computed by the engine (mm, LPS; no Qt).

A *pass* is the straight line from the needle's skin entry to its tip. For one needle position,
`events_for` says what happened along that pass, each event at the depth (mm along the needle from
the skin entry) where it first happens; `events_along` does the same for the whole history of a
scored attempt, each event once, when it first happens. The depths come from the engine's exact
queries (the first point of the line within a distance of a mesh, the line's crossings), never from
sampling, and are rounded toward danger (the shallower) to 0.01 mm (`depth_floor_mm`).

Kinds (`KINDS`):
- ``bone_contact``: the needle's line meets a bone within the inserted depth: it rests on the bone
  (a firm stop; the engine clamps the needle there).
- ``twitch``: the tip, inside the target muscle, comes within `TWITCH_RADIUS_MM` of a trigger point.
- ``nerve_margin``: the needle comes inside a nerve's margin (sharp, electric sensation).
- ``nerve_contact``: the needle touches or enters a nerve (electric pain radiating to the nerve's
  territory: `geometry.nerves.nerve_territory`).
- ``vessel_puncture``: the needle touches or enters a vessel (bleeding; a haematoma grows around the
  puncture: `haematoma_radius_mm`).
- ``haematoma_compression``: that haematoma comes within `HAEMATOMA_NERVE_MM` of a nerve.
- ``pleura_puncture``: the needle touches or enters the pleura or lung (no pain at the time; the
  pneumothorax timeline `PNEUMOTHORAX_TIMELINE`).
- ``danger_contact``: the needle touches or enters another danger structure (a critical structure of
  role "other", e.g. a kidney): no patient response is modelled, the contact itself is the event.
- ``unknown``: the engine cannot tell what the needle meets (a failed computation, a zone the model
  does not contain, tissue beyond the modelled body): treat as danger, never as nothing happened.

"Touching" is the engine's contact: the needle's surface (its axis within the needle radius)
reaches the structure's surface, as in `ClearanceReport` (level "contact").
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import numpy as np

from needlesafe.meshes.types import TriggerPoint

from .needle import Needle
from .nerves import ALONG_THE_NERVE, nerve_territory
from .report import UNMODELLED
from .tolerances import EPS, FLOOR_GUARD, SAME_DEPTH_MM

KINDS = ("bone_contact", "nerve_margin", "nerve_contact", "vessel_puncture", "haematoma_compression",
         "pleura_puncture", "danger_contact", "twitch", "unknown")

#: Radius (mm) around a trigger point within which the tip, inside the target muscle, elicits a
#: local twitch response. NeedleSafe's teaching choice, not a measured figure: a myofascial trigger
#: point is a nodule a few millimetres across in a taut band, and the sensitive loci where a needle
#: elicits the twitch are spread over its region (Hong & Simons 1998, Arch Phys Med Rehabil 79:863;
#: Hong 1994, Am J Phys Med Rehabil 73:256, local twitch response on needling).
TWITCH_RADIUS_MM = 5.0

#: Haematoma model — a TEACHING ASSUMPTION, not a published model: blood leaks from the puncture at a
#: rate falling as the pressure around it rises, so the haematoma's volume approaches a maximum
#: exponentially, V(t) = V_max (1 - exp(-t / tau)), a sphere centred on the puncture. A 15 mm
#: radius (about 14 mL) after a few minutes without compression is the scale of the deep bruise
#: the app wants students to picture, not a prediction for a patient.
HAEMATOMA_MAX_RADIUS_MM = 15.0
HAEMATOMA_TIME_CONSTANT_S = 120.0
#: A haematoma this close (mm) to a nerve is a compression warning ("within a few mm"; the
#: teaching nerve margin of meshes/types.py DEFAULT_MARGIN_MM).
HAEMATOMA_NERVE_MM = 3.0

#: What may follow a pleura puncture, in order (when, what). From case reports of pneumothorax
#: after dry needling and acupuncture: pain and breathlessness 30 minutes after needling, presenting
#: five hours later (Grusche & Egerton-Warburton 2017, Clin Pract Cases Emerg Med 1:204); pleuritic
#: chest pain presenting the day after (Cureus 2021;13:e14207); chest pain, shortness of breath and
#: dry cough (Patel et al. 2019, J Am Osteopath Assoc 119:59). Symptoms can start within minutes or
#: be delayed for a day or more.
PNEUMOTHORAX_TIMELINE = (
    ("at the time", "no pain: the pleura gives no warning as the needle enters it"),
    ("minutes to hours", "sharp chest or shoulder pain on breathing in, breathlessness"),
    ("hours to days", "breathlessness on exertion, a dry cough, tiredness; symptoms may first appear the next day"),
)
PNEUMOTHORAX_ADVICE = ("Tell the patient what to watch for over the next days; chest pain or breathlessness "
                       "needs urgent medical assessment.")

def haematoma_radius_mm(seconds: float) -> float:
    """Radius (mm) of the haematoma `seconds` after a vessel puncture, in the teaching model
    (HAEMATOMA_MAX_RADIUS_MM, HAEMATOMA_TIME_CONSTANT_S): 0 at the puncture, growing to the maximum."""
    t = max(0.0, float(seconds))
    return HAEMATOMA_MAX_RADIUS_MM * (1.0 - math.exp(-t / HAEMATOMA_TIME_CONSTANT_S)) ** (1.0 / 3.0)


def haematoma_seconds(radius_mm: float) -> float | None:
    """Seconds after the puncture at which the teaching haematoma reaches `radius_mm` (the inverse of
    `haematoma_radius_mm`); None when it never does (at or beyond the maximum radius)."""
    r = float(radius_mm)
    if r <= 0.0:
        return 0.0
    if r >= HAEMATOMA_MAX_RADIUS_MM:
        return None
    return -HAEMATOMA_TIME_CONSTANT_S * math.log(1.0 - (r / HAEMATOMA_MAX_RADIUS_MM) ** 3)


def depth_floor_mm(depth: float) -> float:
    """A depth along the needle rounded toward danger (the shallower) to 0.01 mm."""
    return math.floor(float(depth) * 100.0 + FLOOR_GUARD) / 100.0


@dataclass
class Event:
    """Something the patient or the practitioner feels, at one depth of one pass.

    kind         : one of KINDS
    structure    : the structure it concerns (the nerve, vessel, bone ...; for a twitch the muscle),
                   None when none (an unknown)
    depth_mm     : mm along the needle from the skin entry, rounded toward danger to 0.01 mm
    message      : the plain sentence (surfaces show it through app/readout.py `event_sentence`)
    point        : (3,) mm LPS, the needle's tip when it happened, or None
    structure_point : (3,) mm LPS, the nearest point of the structure there (where the window lights it)
    territory    : for nerve events, where the patient feels it (geometry.nerves.NERVE_TERRITORIES)
    detail       : ``exact_depth_mm`` (the depth before rounding) and kind-specific numbers and text
                   (the trigger point; the haematoma's seconds and distances; the pneumothorax
                   timeline ...)
    """

    kind: str
    structure: str | None
    depth_mm: float
    message: str
    point: list | None = None
    structure_point: list | None = None
    territory: str | None = None
    detail: dict = field(default_factory=dict)

    @property
    def key(self) -> tuple:
        """What makes two events the same event (fired once per attempt): kind and structure, and
        the trigger point of a twitch, the vessel of a haematoma warning."""
        extra = self.detail.get("trigger_point") or self.detail.get("vessel") or ""
        return (self.kind, self.structure, extra)

    def to_dict(self) -> dict:
        return asdict(self)


def _the(name: str) -> str:
    """A structure's name in a sentence: 'sciatic_nerve_r' -> 'the sciatic nerve (right)'."""
    words = [w for w in str(name).split("_") if w]
    side = {"r": " (right)", "l": " (left)"}.get(words[-1], "") if len(words) > 1 else ""
    return "the " + " ".join(words[:-1] if side else words) + side


def _pt(x) -> list:
    return [float(v) for v in x]


def _order(e: Event) -> tuple:
    return (e.detail.get("exact_depth_mm", e.depth_mm), KINDS.index(e.kind))


def _nerve_contact_message(name: str) -> tuple[str, str]:
    territory, motor = nerve_territory(name)
    label = _the(name)[4:]
    if territory == ALONG_THE_NERVE and motor is None:
        text = f"Electric pain along the nerve ({label}): the needle touches it. Withdraw at once."
    elif motor is not None and territory == ALONG_THE_NERVE:
        text = (f"A sudden jolt ({label}, mainly a motor nerve): the needle touches it; injury shows as "
                f"{motor}. Withdraw at once.")
    else:
        text = f"Electric pain shooting into {territory} ({label}): the needle touches the nerve."
        if motor:
            text += f" Injury shows as {motor}."
        text += " Withdraw at once."
    return territory, text


class _Pass:
    """One needle's pass against one engine: the shared lookups of `events_for`."""

    def __init__(self, engine, needle: Needle):
        self.engine = engine
        self.needle = needle
        self.e = np.asarray(needle.entry_lps, float)
        self.d = np.asarray(needle.direction, float)
        self.r = needle.radius_mm

    def at(self, t: float) -> np.ndarray:
        return self.e + t * self.d

    def entry_inside(self, i: int) -> bool | None:
        s = self.engine.structures[i]
        lo, hi = self.engine.bvh.parts[i].bounds
        if np.any(self.e < lo) or np.any(self.e > hi):
            return False
        return self.engine.inside(s.name, self.e)

    def first_within(self, i: int, radius: float, depth: float) -> float:
        """First depth in [0, depth] where the line comes within `radius` of structure i (0 when the
        entry lies inside it), or inf."""
        t = self.engine.bvh.parts[i].first_within(self.e, self.d, radius, depth)
        if t > 0.0 and self.entry_inside(i) is True:
            return 0.0  # the entry is inside: from the skin (an undecided vote reads unknown in the report)
        return t

    def nearest(self, i: int, p) -> list:
        _, q, _ = self.engine.bvh.parts[i].point_distance(p)
        return _pt(q)


def _twitch_depth(ps: _Pass, tp: TriggerPoint, muscle_i: int | None, depth: float) -> float:
    """First depth in [0, depth] where the line is within TWITCH_RADIUS_MM of the trigger point and
    inside the muscle (any tissue when the muscle is not known), or inf."""
    c = np.asarray(tp.point, float) - ps.e
    along = float(np.dot(c, ps.d))
    h2 = float(np.dot(c, c)) - along * along
    rr = TWITCH_RADIUS_MM * TWITCH_RADIUS_MM
    if h2 > rr:
        return math.inf
    half = math.sqrt(rr - h2)
    lo, hi = max(0.0, along - half), min(depth, along + half)
    if lo > hi:
        return math.inf
    if muscle_i is None:
        return lo
    engine = ps.engine
    hits = engine.bvh.crossings(muscle_i, ps.e, ps.d)
    closed = bool(engine.closed[muscle_i])
    bounds = [lo] + [float(t) for t in hits if lo < t < hi] + [hi]
    name = engine.structures[muscle_i].name
    for a, b in zip(bounds[:-1], bounds[1:], strict=False):
        mid = 0.5 * (a + b)
        if closed:
            inside = int(np.count_nonzero(hits > mid)) % 2 == 1
        else:
            inside = engine.inside(name, ps.at(mid)) is True
        if inside:
            return a
    if lo == hi:  # the line only grazes the ball: decide at that point
        inside = engine.inside(name, ps.at(lo)) is True
        return lo if inside else math.inf
    return math.inf


def _trigger_points(scene, target) -> list[TriggerPoint]:
    tps = list(getattr(scene, "trigger_points", []) or [])
    if target is None:
        return tps
    if isinstance(target, TriggerPoint):
        if not target.muscle:  # a target named without its muscle: the scene's trigger point says which
            known = next((tp for tp in tps if tp.name == target.name), None)
            if known is not None:
                return [TriggerPoint(target.name, target.point, known.muscle)]
        return [target]
    name = str(target)
    return [tp for tp in tps if tp.name == name or tp.muscle == name]


def same_line(a: Needle, b: Needle) -> bool:
    """Do `a` and `b` lie on one pass (the same entry and direction, to the engine's tolerances)?"""
    return bool(np.allclose(a.entry_lps, b.entry_lps, rtol=0.0, atol=SAME_DEPTH_MM)
                and np.allclose(a.direction, b.direction, rtol=0.0, atol=EPS))


def events_for(engine, needle: Needle, previous: Needle | None = None, target=None, report=None,
               margins: dict | None = None) -> list:
    """The events along `needle`'s pass (from the skin entry to its tip), ordered by depth.

    engine   : a `ClearanceEngine`
    needle   : the requested needle; it stops on the first bone along its line (`bone_contact`)
    previous : the needle of the previous update, or None; on the same line (same entry and
               direction) only events deeper than its depth are returned (what is new in this move)
    target   : whose trigger points can twitch: a `TriggerPoint`, a trigger-point or muscle name,
               or None (every trigger point of the scene, each in its own muscle)
    report   : the engine's report of `needle`, when the caller already has it (saves a query)
    margins  : {structure name: mm} raising (never lowering) a nerve's margin, e.g. an exercise's
               `clearance_mm`, so `nerve_margin` fires where the exercise's margin is entered

    Never raises for a valid Needle: a failed computation is one ``unknown`` event.
    """
    try:
        return _events_for(engine, needle, previous, target, report, margins or {})
    except Exception as exc:  # noqa: BLE001 - a failure must read as unknown, never as "nothing happened"
        return [Event("unknown", None, 0.0, f"The engine could not tell what the needle meets ({exc}): "
                                            "treat as danger.", _pt(needle.entry_lps),
                      detail={"exact_depth_mm": 0.0, "error": str(exc)})]


def _events_for(engine, needle: Needle, previous, target, report, margins: dict) -> list:
    rep = report if report is not None else engine.report(needle)
    stop, bone = engine.bone_stop(needle)
    depth = needle.depth_mm if stop is None else min(needle.depth_mm, stop)
    ps = _Pass(engine, needle)
    out: list[Event] = []
    if stop is not None and needle.depth_mm >= stop - SAME_DEPTH_MM:
        i = next(k for k, st in enumerate(engine.structures) if st.name == bone)
        out.append(Event("bone_contact", bone, depth_floor_mm(stop),
                         f"Firm stop: the needle rests on {_the(bone)}; it cannot go deeper.",
                         _pt(ps.at(stop)), ps.nearest(i, ps.at(stop)), detail={"exact_depth_mm": float(stop)}))
    punctures = []
    pleura_hits = []  # (depth, name, point) of every pleura or lung surface the needle meets
    for i, s in enumerate(engine.structures):
        if s.role == "nerve":
            margin = max(float(s.margin_mm), float(margins.get(s.name, 0.0)))
            if margin > 0.0:
                t = ps.first_within(i, margin + ps.r, depth)
                if t <= depth:
                    out.append(Event("nerve_margin", s.name, depth_floor_mm(t),
                                     f"Sharp, electric sensation: the needle is within {margin:g} mm of "
                                     f"{_the(s.name)}. Stop and withdraw slightly.",
                                     _pt(ps.at(t)), ps.nearest(i, ps.at(t)), nerve_territory(s.name)[0],
                                     {"margin_mm": margin, "exact_depth_mm": float(t)}))
            t = ps.first_within(i, ps.r, depth)
            if t <= depth:
                territory, text = _nerve_contact_message(s.name)
                out.append(Event("nerve_contact", s.name, depth_floor_mm(t), text, _pt(ps.at(t)),
                                 ps.nearest(i, ps.at(t)), territory,
                                 {"motor": nerve_territory(s.name)[1], "exact_depth_mm": float(t)}))
        elif s.role in ("vessel", "pleura"):
            t = ps.first_within(i, ps.r, depth)
            if t > depth:
                continue
            where = ps.nearest(i, ps.at(t))
            if s.role == "vessel":
                label = _the(s.name)
                out.append(Event("vessel_puncture", s.name, depth_floor_mm(t),
                                 f"Bleeding: the needle punctures {label}. Withdraw and press on the site; "
                                 "a haematoma grows around the puncture.", _pt(ps.at(t)), where,
                                 detail={"exact_depth_mm": float(t),
                                         "haematoma_max_radius_mm": HAEMATOMA_MAX_RADIUS_MM,
                                         "haematoma_time_constant_s": HAEMATOMA_TIME_CONSTANT_S}))
                punctures.append((s.name, t, np.asarray(where, float)))
            else:
                pleura_hits.append((t, s.name, where))
        elif s.critical and s.role not in ("bone", "skin", "muscle", UNMODELLED):
            t = ps.first_within(i, ps.r, depth)
            if t <= depth:
                out.append(Event("danger_contact", s.name, depth_floor_mm(t),
                                 f"The needle touches {_the(s.name)}, a danger structure. Withdraw.",
                                 _pt(ps.at(t)), ps.nearest(i, ps.at(t)), detail={"exact_depth_mm": float(t)}))
        elif s.role == UNMODELLED:
            t = ps.first_within(i, max(s.margin_mm, 0.0) + ps.r, depth)
            if t <= depth:
                note = next((row.note for row in rep.structures if row.name == s.name and row.note), None)
                out.append(Event("unknown", s.name, depth_floor_mm(t),
                                 f"Unknown tissue: the needle enters {_the(s.name)}, which the model does "
                                 f"not contain ({note or 'not modelled'}): treat as danger.",
                                 _pt(ps.at(t)), ps.nearest(i, ps.at(t)), detail={"exact_depth_mm": float(t)}))
    if pleura_hits:  # one puncture per pass: the first of the pleura and lung surfaces it meets
        pleura_hits.sort(key=lambda h: h[0])
        t, name, where = pleura_hits[0]
        out.append(Event("pleura_puncture", name, depth_floor_mm(t),
                         f"No pain at the time: the needle has entered {_the(name)}. A pneumothorax may "
                         "follow — chest pain, breathlessness, dry cough — within minutes to days. "
                         + PNEUMOTHORAX_ADVICE, _pt(ps.at(t)), where,
                         detail={"exact_depth_mm": float(t),
                                 "timeline": [{"when": w, "what": x} for w, x in PNEUMOTHORAX_TIMELINE],
                                 "also": [h[1] for h in pleura_hits[1:]]}))
    out += _haematoma_events(ps, punctures)
    out += _twitch_events(ps, target, depth)
    exit_mm = rep.path.exit_mm
    if exit_mm is not None and depth > exit_mm:
        out.append(Event("unknown", None, depth_floor_mm(exit_mm),
                         "Unknown tissue: the needle leaves the modelled body; what lies at its tip is not "
                         "modelled: treat as danger.", _pt(ps.at(exit_mm)),
                         detail={"exact_depth_mm": float(exit_mm)}))
    if rep.level == "unknown" and not any(e.kind == "unknown" for e in out):
        why = "; ".join(rep.errors) or "the model cannot tell what lies at the tip"
        out.append(Event("unknown", None, depth_floor_mm(depth), f"Unknown: {why}: treat as danger.",
                         _pt(ps.at(depth)), detail={"exact_depth_mm": float(depth)}))
    if previous is not None and same_line(previous, needle):
        if previous.depth_mm >= needle.depth_mm:
            return []
        before = previous.depth_mm if stop is None else min(previous.depth_mm, stop)
        # what happened up to the previous tip has fired already (a bone the tip rested on included)
        out = [e for e in out if e.detail["exact_depth_mm"] > before]
    return sorted(out, key=_order)


def _haematoma_events(ps: _Pass, punctures) -> list:
    """A compression warning for every nerve the haematoma of each puncture comes within
    HAEMATOMA_NERVE_MM of (in the teaching model), at the puncture's depth."""
    out = []
    engine = ps.engine
    for vessel, t, where in punctures:
        for i, s in enumerate(engine.structures):
            if s.role != "nerve":
                continue
            dist, q, _ = engine.bvh.parts[i].point_distance(where)
            radius = max(0.0, float(dist) - HAEMATOMA_NERVE_MM)
            seconds = haematoma_seconds(radius)
            if seconds is None:
                continue
            out.append(Event(
                "haematoma_compression", s.name, depth_floor_mm(t),
                f"Haematoma warning: blood from {_the(vessel)} collects {dist:.0f} mm from "
                f"{_the(s.name)}; within about {max(1, math.ceil(seconds))} s it is within "
                f"{HAEMATOMA_NERVE_MM:g} mm of the nerve and may compress it (teaching model). Press on the "
                "site and watch for numbness or weakness.",
                _pt(where), _pt(q), nerve_territory(s.name)[0],
                {"exact_depth_mm": float(t), "vessel": vessel, "nerve_distance_mm": float(dist),
                 "seconds_to_reach": float(seconds), "haematoma_radius_mm": radius, "within_mm": HAEMATOMA_NERVE_MM}))
    return out


def _twitch_events(ps: _Pass, target, depth: float) -> list:
    engine = ps.engine
    index = {s.name: i for i, s in enumerate(engine.structures)}
    out = []
    for tp in _trigger_points(engine.scene, target):
        muscle_i = index.get(tp.muscle) if tp.muscle else None
        if tp.muscle and muscle_i is None:
            continue  # its muscle is not in this scene: no twitch can be told
        t = _twitch_depth(ps, tp, muscle_i, depth)
        if t > depth:
            continue
        muscle = tp.muscle or None
        p = ps.at(t)
        out.append(Event("twitch", muscle, depth_floor_mm(t),
                         f"Local twitch response: the tip is within {TWITCH_RADIUS_MM:g} mm of the {tp.name} trigger "
                         f"point{' in ' + _the(muscle) if muscle else ''}.",
                         _pt(p), _pt(tp.point),
                         detail={"trigger_point": tp.name,
                                 "distance_mm": float(np.linalg.norm(p - np.asarray(tp.point, float))),
                                 "radius_mm": TWITCH_RADIUS_MM, "exact_depth_mm": float(t)}))
    return out


def events_along(engine, needles, target=None, margins: dict | None = None) -> list:
    """The events of a scored attempt's whole history (`needles`, in order): each event once, when it
    first happens (at the depth where it happens along that pass), in the order they happened."""
    seen = set()
    out = []
    previous = None
    for n in needles:
        for e in events_for(engine, n, previous, target, margins=margins):
            if e.key not in seen:
                seen.add(e.key)
                out.append(e)
        previous = n
    return out
