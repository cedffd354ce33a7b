"""Verify an exercise against the engine: its target is real tissue, it can be solved, and its classic
mistake fails (no Qt here).

An exercise teaches only if the model agrees with it: the target lies inside its muscle and outside
every bone and danger structure; some needle from the skin scores 100/100 with the exercise's needle
and constraints; and the mistake the site is known for (the exercise's `classic_mistake`) does not
pass. `verify_exercise` checks all three with the same engine that scores students.

A decline exercise ("decline": {"expected": true, ...}) is verified the other way round: its target
is still tissue, but no approach in the search scores 100/100 (the engine shows that needling it is
unsafe) and every reason it lists is measured on the approaches (`measure_reason`): the pleura
within the needle's length along the best approach with no bone before it; every approach that
reaches the target breaking a danger (or a nerve's) margin; a danger structure within the needle's
reach along the best approach.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from needlesafe.geometry.needle import Needle

from .exercises import DECLINE_REASONS, Exercise, ExerciseError, score_attempt


def fibonacci_directions(n: int) -> np.ndarray:
    """(n, 3) unit vectors spread evenly over the sphere (Fibonacci lattice)."""
    k = np.arange(n) + 0.5
    phi = np.arccos(1 - 2 * k / n)
    theta = np.pi * (1 + 5**0.5) * k
    return np.stack([np.cos(theta) * np.sin(phi), np.sin(theta) * np.sin(phi), np.cos(phi)], axis=1)


def approaches(ex: Exercise, engine, n: int = 400):
    """Needles from the skin to the exercise's target along n directions, each inserted to the target
    (only those whose skin entry lies within the needle's length)."""
    for d in fibonacci_directions(n):
        t = engine.distance_to_skin(ex.target_point, -d)
        if t is not None and 1.0 < t <= ex.needle_length_mm:
            yield Needle(ex.target_point - t * d, d, t, ex.needle_length_mm, ex.needle_gauge_mm)


def start_needle(ex: Exercise, engine) -> Needle | None:
    """The needle an exercise opens with: on the skin where the line from the target back along
    `ex.start_direction` leaves the body, pointing at the target, not inserted; None when that line
    never meets the skin."""
    d = np.asarray(ex.start_direction, float)
    d = d / np.abs(d).max()
    d = d / np.linalg.norm(d)
    t = engine.distance_to_skin(ex.target_point, -d)
    if t is None:
        return None
    return Needle(ex.target_point - t * d, d, 0.0, ex.needle_length_mm, ex.needle_gauge_mm)


def mistake_needle(ex: Exercise, engine) -> Needle:
    """The needle of the exercise's classic mistake in `engine`'s scene (see exercises.py)."""
    m = ex.classic_mistake
    if m is None:
        raise ExerciseError(f"{ex.id}: no classic_mistake to replay")
    d = np.asarray(m["direction"], float)
    d = d / np.abs(d).max()
    d = d / np.linalg.norm(d)
    aim = ex.target_point + np.asarray(m["aim_offset_mm"], float)
    t = engine.distance_to_skin(aim, -d)
    if t is None:
        raise ExerciseError(f"{ex.id}: the classic mistake's line never meets the skin")
    if m["depth"] == "aim" and t > ex.needle_length_mm:
        raise ExerciseError(f"{ex.id}: the classic mistake's aim lies {t:.1f} mm under the skin, deeper than "
                            f"the {ex.needle_length_mm:.0f} mm needle")
    depth = {"full": ex.needle_length_mm, "aim": t}.get(m["depth"], None)
    if depth is None:
        depth = min(float(m["depth"]), ex.needle_length_mm)
    return Needle(aim - t * d, d, depth, ex.needle_length_mm, ex.needle_gauge_mm)


def target_problems(ex: Exercise, engine) -> list:
    """Why the exercise's target is not a needling target in `engine`'s scene (empty: it is)."""
    problems = []
    p = ex.target_point
    if ex.target_structure:
        if engine.inside(ex.target_structure, p) is not True:
            problems.append(f"the target is not inside {ex.target_structure}")
    for s in engine.structures:
        if s.role == "bone" or s.critical:
            if engine.inside(s.name, p) is not False:
                problems.append(f"the target lies inside {s.name} ({s.role})")
    return problems


def check_target(ex: Exercise, engine) -> None:
    """Raise ExerciseError when the exercise's target is not a needling target in `engine`'s scene
    (the check every exercise gets when it is opened)."""
    problems = target_problems(ex, engine)
    if problems:
        raise ExerciseError(f"{ex.id} on {engine.scene.name}: " + "; ".join(problems))


@dataclass
class Verification:
    """What the engine says about one exercise in one pack."""

    exercise: str
    pack: str
    problems: list = field(default_factory=list)
    approaches: int = 0
    best_score: int = 0
    best_needle: Needle | None = None
    mistake_score: int | None = None
    mistake_passed: bool | None = None
    mistake_feedback: list = field(default_factory=list)
    decline: bool = False  # a decline exercise: verified when no approach scores 100
    reasons: dict = field(default_factory=dict)  # decline reason id -> what the engine measured (text)

    @property
    def ok(self) -> bool:
        return not self.problems

    def summary(self) -> str:
        m = "" if self.mistake_score is None else f"; classic mistake {self.mistake_score}/100"
        if self.decline:
            m += "; decline: " + "; ".join(f"{r}: {t}" for r, t in self.reasons.items())
        state = "verified" if self.ok else "NOT verified: " + "; ".join(self.problems)
        return f"{self.exercise} on {self.pack}: best of {self.approaches} approaches {self.best_score}/100{m}; {state}"


def verify_exercise(ex: Exercise, engine, mistake_engine=None, n: int = 400) -> Verification:
    """Check `ex` in `engine`'s scene (its pack): target in its muscle and outside bone and danger
    structures, one approach scoring 100/100, and the classic mistake (replayed in `mistake_engine`,
    the pack of its habitus, default `engine`) failing on safety: breaking a margin, or losing the
    bony backstop the exercise requires."""
    v = Verification(ex.id, engine.scene.name, target_problems(ex, engine), decline=ex.decline_expected)
    best = None
    tried = []  # (needle, report, score) of every approach, for a decline exercise's reasons
    plain = Exercise(**{**ex.__dict__, "decline": None, "benchmark": ""})  # scored as if needling were right
    site = np.asarray(ex.start_direction, float) / np.linalg.norm(ex.start_direction)
    for nd in approaches(ex, engine, n):
        v.approaches += 1
        rep = engine.report(nd)
        sc = score_attempt(plain, rep)
        if v.decline:
            tried.append((nd, rep, sc))
        if best is None or sc.score > best[0].score or (
                v.decline and sc.score == best[0].score and nd.direction @ site > best[1].direction @ site):
            best = (sc, nd)  # a decline's ties go to the approach nearest the site's (the start direction)
            if sc.score == 100:
                break
    if best is not None:
        v.best_score, v.best_needle = best[0].score, best[1]
    if v.decline:
        _verify_decline(ex, engine, v, tried)
    elif v.best_score < 100:
        v.problems.append(f"no approach from the skin scores 100/100 (best {v.best_score} of {v.approaches})")
    if ex.classic_mistake is not None:
        eng = mistake_engine or engine
        mex = ex
        if eng is not engine and ex.target_name and ex.target_structure:
            tp = next((t for t in eng.scene.trigger_points if t.name == ex.target_name), None)
            if tp is not None:
                mex = Exercise(**{**ex.__dict__, "target_point": np.asarray(tp.point, float)})
        try:
            sc = score_attempt(Exercise(**{**mex.__dict__, "decline": None}), eng.report(mistake_needle(mex, eng)))
        except ExerciseError as exc:
            v.problems.append(str(exc))
        else:
            v.mistake_score, v.mistake_passed, v.mistake_feedback = sc.score, sc.passed, sc.feedback
            if sc.passed:
                v.problems.append(f"the classic mistake ({ex.classic_mistake['name']}) passes with {sc.score}/100")
            elif sc.clearance_ok and (sc.backstop_ok or not ex.backstop_required):
                # missing the target is no lesson: the mistake must break a margin or lose the backstop
                v.problems.append(f"the classic mistake ({ex.classic_mistake['name']}) keeps every margin; it fails "
                                  "only by missing the target")
    return v


def _verify_decline(ex: Exercise, engine, v: Verification, tried: list) -> None:
    """Add a decline exercise's problems to `v`: an approach scoring 100 (the site can be needled),
    no approach at all, or a listed reason the engine does not measure."""
    if v.best_score == 100:
        v.problems.append(f"an approach from the skin scores 100/100: the site can be needled "
                          f"(direction {[round(float(x), 3) for x in v.best_needle.direction]}); not a decline")
        return
    if not tried:
        v.problems.append("no approach from the skin within the needle's length: the search proves nothing")
        return
    for reason in ex.decline["reasons"]:
        if reason == "other":
            continue
        holds, text = measure_reason(reason, ex, engine, tried, v.best_needle)
        v.reasons[reason] = text
        if not holds:
            v.problems.append(f"decline reason {reason} is not what the engine measures: {text}")
    if not v.reasons:
        v.problems.append("no measurable decline reason (only 'other')")


def _critical_roles(engine) -> dict:
    return {s.name: s.role for s in engine.structures if s.critical}


def _margin_broken(ex: Exercise, row) -> bool:
    needed = max(row.margin_mm, ex.clearance_mm.get(row.name, 0.0))
    return row.shaft_distance_mm is None or bool(row.penetrated) or row.shaft_distance_mm < needed


def measure_reason(reason: str, ex: Exercise, engine, tried: list, best) -> tuple[bool, str]:
    """(does `reason` hold, what the engine measured) for decline exercise `ex`, from `tried`
    ((needle, report, score) of every approach in the search) and the best approach's needle."""
    if reason not in DECLINE_REASONS or reason == "other":
        raise ExerciseError(f"decline reason {reason!r} cannot be measured")
    if reason in ("pleura_in_reach_no_backstop", "needle_too_long"):
        roles = _critical_roles(engine)
        names = [s for s, r in roles.items() if r == "pleura"] if reason.startswith("pleura") else list(roles)
        if not names:
            return False, "the pack has no " + ("pleura" if reason.startswith("pleura") else "danger structure")

        def in_reach(nd):
            """(depth, name) of the first of `names` the line meets within the needle's length, no bone before."""
            q = engine.query(nd.at_depth(0.0))
            hits = [(float(q["first_hit"][i]), s.name) for i, s in enumerate(engine.structures) if s.name in names]
            depth, name = min(hits, default=(float("inf"), None))
            bone, _ = engine.bone_stop(nd)
            if depth > nd.length_mm or (bone is not None and bone <= depth):
                return None
            return depth, name

        got = in_reach(best)
        count = sum(in_reach(nd) is not None for nd, _, _ in tried)
        if got is None:
            bone, bone_name = engine.bone_stop(best)
            where = f"{bone_name} stops it at {bone:.1f} mm" if bone is not None else "nothing in reach"
            return False, (f"along the best approach the {best.length_mm:g} mm needle reaches no "
                           f"{'/'.join(names)} ({where})")
        return True, (f"{got[1]} {got[0]:.1f} mm deep along the best approach, within the {best.length_mm:g} mm "
                      f"needle, no bone before it (so on {count} of {len(tried)} approaches)")
    # every approach that reaches the target breaks a margin: of a nerve, or of any danger structure
    roles = _critical_roles(engine)
    want = ("nerve",) if reason == "nerve_on_path" else tuple(set(roles.values()))
    reaching = [(nd, rep) for nd, rep, sc in tried if sc.target_reached]
    if not reaching:
        return False, f"none of {len(tried)} approaches reaches the target (bone in the way)"
    broken = 0
    closest = {}  # structure -> the largest clearance any reaching approach keeps (the best one can do)
    for _, rep in reaching:
        rows = [r for r in rep.structures if roles.get(r.name) in want and _margin_broken(ex, r)]
        broken += bool(rows)
        for r in rows:
            d = r.shaft_distance_mm if r.shaft_distance_mm is not None and not r.penetrated else 0.0
            closest[r.name] = max(closest.get(r.name, 0.0), d)
    what = "a nerve's" if reason == "nerve_on_path" else "a danger structure's"
    keep = {k: max(engine.scene.structure(k).margin_mm, ex.clearance_mm.get(k, 0.0)) for k in closest}
    worst = ", ".join(f"{k} (at best {d:.1f} mm, keep {keep[k]:g})" for k, d in sorted(closest.items()))
    text = f"{broken} of {len(reaching)} approaches reaching the target break {what} margin: {worst or 'none'}"
    return broken == len(reaching), text
