"""Exercises and attempt scoring (no Qt here; the attempt log is app/attempt_log.py).

An exercise is a JSON file an instructor can write without code::

    {"format": "needlesafe-exercise", "version": 1, "id": "gluteal-piriformis",
     "title": "Piriformis trigger point", "pack": "gluteal",
     "target": {"trigger_point": "piriformis", "tolerance_mm": 8},
     "needle": {"length_mm": 75, "gauge_mm": 0.30},
     "constraints": {"clearance_mm": {"sciatic_nerve": 5}, "backstop_required": false, "max_redirections": 3},
     "teaching": "...", "source": "..."}

`target` names a trigger point of the pack, or gives {"structure": NAME, "point": [x, y, z]}.
`classic_mistake` (optional) names the error this site is known for, as a needle the engine can
replay: {"name": "medial piriformis", "habitus": "lean", "aim_offset_mm": [dx, dy, dz],
"direction": [dx, dy, dz], "depth": "aim" | "full" | mm, "why": "..."}: the needle runs along
`direction` from the skin through the target moved by `aim_offset_mm` (default [0, 0, 0]), inserted
to that point ("aim", the default), its whole length ("full") or a depth in mm; in the habitus given
(default the exercise's pack). The exercise's verification requires it to fail.
`start` (optional, {"direction": [dx, dy, dz]}, default [0, -1, 0]: from behind) is where the
needle waits when the exercise opens: on the skin the target is reached from along that direction,
not inserted, pointing at the target.
`clearance_mm` raises (never lowers) a structure's margin for this exercise. Attempts are appended
to a JSON Lines log, one object a line; a damaged line never hides the others.

When not to needle: `decline` (optional) makes "do not needle here" an answer::

    "decline": {"expected": true, "reasons": ["pleura_in_reach_no_backstop"], "why": "..."}

`expected: true` makes declining the right answer: needling the site fails whatever the needle did
(`score_attempt`, with `why` in the feedback), and `score_decline` gives 100 for a decline with one
of the listed `reasons` (ids of `DECLINE_REASONS`; at least one), less for a decline with another
reason (the feedback names the listed one). `expected: false` (or no `decline`) means the site can
be needled safely: declining it is a needless decline and scores 0. The engine verifies a decline
exercise (app/exercise_check.py): no approach scores 100 and each listed reason is measured.
`benchmark` (optional text with its source) is a published figure the exercise rests on (e.g.
cadaver contact rates); it is shown in the exercise panel and the score's feedback.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from needlesafe.geometry.needle import MAX_COORD_MM, MAX_GAUGE_MM, MAX_LENGTH_MM
from needlesafe.geometry.report import format_mm
from needlesafe.geometry.tolerances import MIN_DIRECTION
from needlesafe.meshes.errors import NeedleSafeError
from needlesafe.meshes.io import read_json
from needlesafe.meshes.validate import finite_number

FORMAT = "needlesafe-exercise"
EXERCISE_DIR = Path(__file__).resolve().parent / "exercises"
MAX_FILE_BYTES = 2_000_000
#: Largest attempt log read (bytes): about 100,000 attempts.
MAX_LOG_BYTES = 64_000_000


class ExerciseError(NeedleSafeError):
    """An exercise or attempt-log file cannot be used; the message says why."""


@dataclass
class Exercise:
    id: str
    title: str
    pack: str
    target_point: np.ndarray
    target_name: str
    target_structure: str
    tolerance_mm: float
    needle_length_mm: float
    needle_gauge_mm: float
    clearance_mm: dict = field(default_factory=dict)
    backstop_required: bool = False
    max_redirections: int = 3
    teaching: str = ""
    source: str = ""
    classic_mistake: dict | None = None
    start_direction: tuple = (0.0, -1.0, 0.0)
    decline: dict | None = None  # {"expected": bool, "reasons": [ids], "why": text}, see the module docstring
    benchmark: str = ""

    @property
    def decline_expected(self) -> bool:
        """Is "do not needle here" the right answer for this exercise?"""
        return bool(self.decline and self.decline["expected"])


#: Why a student declines to needle (id -> the label the student picks). The engine measures each
#: but "other" when it verifies a decline exercise (app/exercise_check.py).
DECLINE_REASONS = {
    "pleura_in_reach_no_backstop": "The pleura is within the needle's reach here and no bone lies beneath to stop it",
    "danger_margin_on_path": "The target can only be reached through a danger structure's safety margin",
    "nerve_on_path": "A major nerve lies on the only path to the target",
    "needle_too_long": "The needle is long enough to reach a danger structure in this patient",
    "other": "Another reason",
}


def _num(value, where, positive=True, maximum=None):
    x = finite_number(value, where, ExerciseError)
    if positive and x <= 0:
        raise ExerciseError(f"{where}: must be positive")
    if maximum is not None and x > maximum:
        raise ExerciseError(f"{where}: must be at most {maximum:g}, got {x:g}")
    return x


def parse_exercise(data, scene=None, where="exercise") -> Exercise:
    """Validate an exercise dict; with `scene`, resolve and check its target against the pack."""
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ExerciseError(f"{where}: not a NeedleSafe exercise (format must be '{FORMAT}')")
    if isinstance(data.get("version"), bool) or data.get("version") != 1:
        raise ExerciseError(f"{where}: unsupported exercise version {data.get('version')!r} "
                            "(this NeedleSafe reads version 1)")
    for key in ("id", "title", "pack"):
        if not isinstance(data.get(key), str) or not data[key].strip():
            raise ExerciseError(f"{where}: '{key}' must be a non-empty string")
    target = data.get("target")
    if not isinstance(target, dict):
        raise ExerciseError(f"{where}: 'target' must be an object")
    tolerance = _num(target.get("tolerance_mm", 8.0), f"{where}: target.tolerance_mm")
    needle = data.get("needle") or {}
    if not isinstance(needle, dict):
        raise ExerciseError(f"{where}: 'needle' must be an object")
    length = _num(needle.get("length_mm", 50.0), f"{where}: needle.length_mm", maximum=MAX_LENGTH_MM)
    gauge = _num(needle.get("gauge_mm", 0.30), f"{where}: needle.gauge_mm", maximum=MAX_GAUGE_MM)
    cons = data.get("constraints") or {}
    if not isinstance(cons, dict):
        raise ExerciseError(f"{where}: 'constraints' must be an object")
    clearance = cons.get("clearance_mm") or {}
    if not isinstance(clearance, dict):
        raise ExerciseError(f"{where}: constraints.clearance_mm must map structure names to mm")
    clearance = {
        str(k): _num(v, f"{where}: constraints.clearance_mm.{k}", positive=False) for k, v in clearance.items()
    }
    backstop = cons.get("backstop_required", False)
    if not isinstance(backstop, bool):
        raise ExerciseError(f"{where}: constraints.backstop_required must be true or false")
    redirections = cons.get("max_redirections", 3)
    if isinstance(redirections, bool) or not isinstance(redirections, int) or redirections < 0:
        raise ExerciseError(f"{where}: constraints.max_redirections must be a whole number >= 0")
    for key in ("teaching", "source", "benchmark"):
        if not isinstance(data.get(key, ""), str):
            raise ExerciseError(f"{where}: '{key}' must be text")
    mistake = _classic_mistake(data.get("classic_mistake"), where)
    decline = _decline(data.get("decline"), where)
    start = data.get("start", {"direction": [0.0, -1.0, 0.0]})
    if not isinstance(start, dict) or not isinstance(start.get("direction"), list) or len(start["direction"]) != 3:
        raise ExerciseError(f"{where}: 'start' must be {{\"direction\": [dx, dy, dz]}}")
    start_dir = tuple(_num(x, f"{where}: start.direction", positive=False) for x in start["direction"])
    if not MIN_DIRECTION <= max(abs(x) for x in start_dir) <= MAX_COORD_MM:  # the limits `Needle` keeps
        raise ExerciseError(f"{where}: start.direction must be a usable direction, got {list(start_dir)}")
    point, name, structure = None, "", str(target.get("structure", ""))
    if "trigger_point" in target:
        if not isinstance(target["trigger_point"], str):
            raise ExerciseError(f"{where}: target.trigger_point must name a trigger point of the pack")
        name = target["trigger_point"]
        if scene is not None:
            tp = next((t for t in scene.trigger_points if t.name == name), None)
            if tp is None:
                raise ExerciseError(f"{where}: pack '{data['pack']}' has no trigger point '{name}'")
            point, structure = np.asarray(tp.point, float), tp.muscle
    else:
        pt = target.get("point")
        if not isinstance(pt, list) or len(pt) != 3:
            raise ExerciseError(f"{where}: target needs a 'trigger_point' name or a 'point' [x, y, z]")
        point = np.array([_num(v, f"{where}: target.point", positive=False) for v in pt])
        name = structure or "target"
    if scene is not None:
        names = {s.name for s in scene.structures}
        for s in list(clearance) + ([structure] if structure else []):
            if s not in names:
                raise ExerciseError(f"{where}: '{s}' is not a structure of pack '{data['pack']}'")
    return Exercise(
        data["id"], data["title"], data["pack"], point, name, structure, tolerance, length, gauge, clearance,
        backstop, redirections, data.get("teaching", ""), data.get("source", ""), mistake, start_dir, decline,
        data.get("benchmark", ""),
    )


def _decline(value, where):
    """Validate the optional decline object (see the module docstring)."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ExerciseError(f"{where}: 'decline' must be an object")
    expected = value.get("expected")
    if not isinstance(expected, bool):
        raise ExerciseError(f"{where}: decline.expected must be true or false")
    reasons = value.get("reasons", [])
    if not isinstance(reasons, list) or not all(isinstance(r, str) for r in reasons):
        raise ExerciseError(f"{where}: decline.reasons must be a list of reason ids")
    for r in reasons:
        if r not in DECLINE_REASONS:
            raise ExerciseError(f"{where}: decline.reasons: unknown reason {r[:60]!r} "
                                f"(one of {', '.join(DECLINE_REASONS)})")
    if len(set(reasons)) != len(reasons):
        raise ExerciseError(f"{where}: decline.reasons lists a reason twice")
    if expected and not reasons:
        raise ExerciseError(f"{where}: decline.reasons must name at least one reason when declining is expected")
    why = value.get("why", "")
    if not isinstance(why, str) or (expected and not why.strip()):
        raise ExerciseError(f"{where}: decline.why must be text (and say why, when declining is expected)")
    return {"expected": expected, "reasons": list(reasons), "why": why}


def _classic_mistake(value, where):
    """Validate the optional classic_mistake object (see the module docstring)."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ExerciseError(f"{where}: 'classic_mistake' must be an object")
    name = value.get("name")
    if not isinstance(name, str) or not name.strip():
        raise ExerciseError(f"{where}: classic_mistake.name must be a non-empty string")
    habitus = value.get("habitus")
    if habitus is not None and habitus not in ("lean", "average", "high"):
        raise ExerciseError(f"{where}: classic_mistake.habitus must be lean, average or high")
    vecs = {}
    for key, default in (("aim_offset_mm", [0, 0, 0]), ("direction", None)):
        v = value.get(key, default)
        if not isinstance(v, list) or len(v) != 3:
            raise ExerciseError(f"{where}: classic_mistake.{key} must be three numbers")
        vecs[key] = [_num(x, f"{where}: classic_mistake.{key}", positive=False) for x in v]
    if max(abs(x) for x in vecs["direction"]) == 0.0:
        raise ExerciseError(f"{where}: classic_mistake.direction must not be the zero vector")
    depth = value.get("depth", "aim")
    if depth not in ("full", "aim"):
        depth = _num(depth, f"{where}: classic_mistake.depth")
    why = value.get("why", "")
    if not isinstance(why, str):
        raise ExerciseError(f"{where}: classic_mistake.why must be text")
    return {"name": name, "habitus": habitus, **vecs, "depth": depth, "why": why}


def load_exercise(path, scene=None) -> Exercise:
    data = read_json(path, MAX_FILE_BYTES, ExerciseError, "exercise")
    return parse_exercise(data, scene, str(path))


def builtin_exercises() -> list[Path]:
    """The exercise files shipped with NeedleSafe."""
    return sorted(EXERCISE_DIR.glob("*.json"))


@dataclass
class Score:
    score: int  # 0..100
    passed: bool
    target_reached: bool
    target_distance_mm: float
    clearance_ok: bool
    backstop_ok: bool
    redirections: int
    feedback: list
    twitch: bool = False  # a local twitch response was elicited (the trigger point was found)
    harmed: list = field(default_factory=list)  # kinds of harmful events during the attempt
    declined: str | None = None  # the student declined to needle, for this reason (a DECLINE_REASONS id)

    def to_dict(self) -> dict:
        """The score as JSON-ready data; a needled attempt's has the keys it always had (no
        'declined'), a decline's has 'declined' and no target distance (no needle went in)."""
        d = asdict(self)
        if d["declined"] is None:
            del d["declined"]
        if not math.isfinite(d["target_distance_mm"]):
            del d["target_distance_mm"]
        return d


#: Events that fail an attempt wherever they happened along its history, even when the final needle
#: was pulled back clear: the patient was hurt, or the model could not tell (treated as danger).
HARMFUL_EVENTS = ("nerve_contact", "pleura_puncture", "vessel_puncture", "danger_contact", "unknown")


def score_attempt(exercise: Exercise, report, redirections: int = 0, events=()) -> Score:
    """Score an attempt from its clearance report: target 40, clearance 40, backstop 10, redirections 10.

    `events` are the attempt's whole history (geometry.events.Event, each once): a harmful one
    (`HARMFUL_EVENTS`) anywhere in it fails the clearance, with the patient's words in the feedback;
    a local twitch is credited in the feedback (and `Score.twitch`).

    An attempt passes when it reaches the target with every clearance kept (and a bony backstop
    ahead when the exercise requires one). Unknown clearances count as unsafe. The report's needle
    is the effective one (stopped at bone), so a needle stopped short of the target misses it; an
    unknown tip (outside the modelled body, undecidable inside/outside) or a needle that crossed a
    danger structure earns neither the clearance nor the backstop points.
    """
    n = report.needle
    feedback = []
    stopped = report.path.stopped_by
    dist = float(np.linalg.norm(n.tip_lps - exercise.target_point)) if exercise.target_point is not None else math.inf
    reached = dist <= exercise.tolerance_mm
    if reached:
        feedback.append(f"Target reached: the tip is {dist:.1f} mm from the {exercise.target_name} target.")
    else:
        feedback.append(f"Target missed: the tip is {dist:.1f} mm from the {exercise.target_name} target "
                        f"(allowed {exercise.tolerance_mm:.0f} mm).")
        if stopped:
            feedback.append(f"The needle stopped on {stopped['name']} at {format_mm(stopped['depth_mm'], 1)} mm, "
                            "short of the target: a needle cannot pass through bone; change the angle.")
    clearance_ok = report.level != "unknown"
    if not clearance_ok:
        feedback.append("Unsafe: the needle's tip is where the model cannot say what it touches "
                        f"({'; '.join(report.errors) or 'unknown'}); treated as danger.")
    for row in report.structures:
        needed = max(row.margin_mm, exercise.clearance_mm.get(row.name, 0.0))
        if row.shaft_distance_mm is None:
            clearance_ok = False
            feedback.append(f"Unsafe: the clearance to {row.name} could not be computed (treated as contact).")
        elif row.penetrated:
            clearance_ok = False
            feedback.append(f"Unsafe: the needle touches {row.name}.")
        elif row.shaft_distance_mm < needed:
            clearance_ok = False
            feedback.append(f"Unsafe: {format_mm(row.shaft_distance_mm, 1)} mm from {row.name}; "
                            f"keep at least {needed:g} mm.")
    harmed = []
    for e in events:
        if e.kind in HARMFUL_EVENTS:
            harmed.append(e.kind)
            clearance_ok = False
            where = f" ({e.structure})" if e.structure else ""
            feedback.append(f"During the attempt, at {format_mm(e.depth_mm, 1)} mm: {e.kind.replace('_', ' ')}"
                            f"{where}. {e.message}")
    twitch = any(e.kind == "twitch" for e in events)
    if twitch:
        feedback.append("Local twitch response: the needle found the trigger point.")
    if clearance_ok:
        feedback.append("Every danger structure kept its margin.")
    br = report.path.bracketing
    backstop_ok = (br.verdict == "bone" and br.backstop) or not exercise.backstop_required
    if not clearance_ok or (stopped and not reached):
        backstop_ok = False
    if exercise.backstop_required and not backstop_ok:
        feedback.append(
            f"No bony backstop ahead of the tip ({br.message or br.verdict}); aim so a bone stops the needle."
        )
    elif backstop_ok and br.verdict == "bone" and br.backstop:
        feedback.append(f"Good bracketing: {br.message}.")
    redir_ok = redirections <= exercise.max_redirections
    if not redir_ok:
        feedback.append(
            f"{redirections} redirections (at most {exercise.max_redirections}): plan the angle before inserting."
        )
    score = 40 * reached + 40 * clearance_ok + 10 * backstop_ok + 10 * redir_ok
    passed = bool(reached and clearance_ok and backstop_ok)
    if exercise.decline_expected:  # needling here is the mistake, whatever the needle did
        feedback.insert(0, f"Not passed: this patient should not be needled here. {exercise.decline['why']}")
        feedback.insert(1, "The right answer was \"Do not needle here\": "
                        + "; ".join(DECLINE_REASONS[r].lower() for r in exercise.decline["reasons"]) + ".")
        score, passed = 0, False
    if exercise.benchmark:
        feedback.append(f"Published benchmark: {exercise.benchmark}")
    return Score(
        int(score), passed, bool(reached), dist, bool(clearance_ok), bool(backstop_ok), int(redirections), feedback,
        bool(twitch), harmed,
    )


#: Points for declining with a reason the exercise does not list (declining was right; the reason was not).
OTHER_REASON_SCORE = 60


def score_decline(exercise: Exercise, reason: str) -> Score:
    """Score "do not needle here" with `reason` (a DECLINE_REASONS id; ExerciseError otherwise).

    On a decline exercise a listed reason scores 100, another reason passes with
    OTHER_REASON_SCORE and the feedback names the listed one. Where the site can be needled
    safely the decline is needless: 0, and the feedback says how to needle it.
    """
    if reason not in DECLINE_REASONS:
        raise ExerciseError(f"unknown decline reason {str(reason)[:60]!r} (one of {', '.join(DECLINE_REASONS)})")
    label = DECLINE_REASONS[reason]
    feedback = []
    if exercise.decline_expected:
        listed = exercise.decline["reasons"]
        if reason in listed:
            score = 100
            feedback.append(f"Correct: do not needle here. {label}.")
        else:
            score = OTHER_REASON_SCORE
            feedback.append(f"Right to decline, but not for the main reason (you chose: {label.lower()}).")
            feedback.append("The reason here: " + "; ".join(DECLINE_REASONS[r].lower() for r in listed) + ".")
        feedback.append(exercise.decline["why"])
        passed = True
    else:
        score, passed = 0, False
        feedback.append(f"Needless decline: this site can be needled safely (you chose: {label.lower()}).")
        how = (f"Reach the {exercise.target_name} target (within {exercise.tolerance_mm:g} mm) with the "
               f"{exercise.needle_gauge_mm:.2f} x {exercise.needle_length_mm:g} mm needle, keeping every margin"
               + (" and with a bone beneath the tip as a backstop" if exercise.backstop_required else "") + ".")
        feedback.append(how)
        if exercise.teaching:
            feedback.append(exercise.teaching)
        if exercise.decline and exercise.decline["why"]:
            feedback.append(exercise.decline["why"])
    if exercise.benchmark:
        feedback.append(f"Published benchmark: {exercise.benchmark}")
    return Score(score, passed, False, math.inf, True, passed, 0, feedback, declined=reason)
