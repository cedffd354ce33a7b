"""Verify an exercise against the engine: its target is real tissue, it can be solved, and its classic
mistake fails (no Qt here).

An exercise teaches only if the model agrees with it: the target lies inside its muscle and outside
every bone and danger structure; some needle from the skin scores 100/100 with the exercise's needle
and constraints; and the mistake the site is known for (the exercise's `classic_mistake`) does not
pass. `verify_exercise` checks all three with the same engine that scores students.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from needlesafe.geometry.needle import Needle

from .exercises import Exercise, ExerciseError, score_attempt


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

    @property
    def ok(self) -> bool:
        return not self.problems

    def summary(self) -> str:
        m = "" if self.mistake_score is None else f"; classic mistake {self.mistake_score}/100"
        state = "verified" if self.ok else "NOT verified: " + "; ".join(self.problems)
        return f"{self.exercise} on {self.pack}: best of {self.approaches} approaches {self.best_score}/100{m}; {state}"


def verify_exercise(ex: Exercise, engine, mistake_engine=None, n: int = 400) -> Verification:
    """Check `ex` in `engine`'s scene (its pack): target in its muscle and outside bone and danger
    structures, one approach scoring 100/100, and the classic mistake (replayed in `mistake_engine`,
    the pack of its habitus, default `engine`) failing on safety: breaking a margin, or losing the
    bony backstop the exercise requires."""
    v = Verification(ex.id, engine.scene.name, target_problems(ex, engine))
    best = None
    for nd in approaches(ex, engine, n):
        v.approaches += 1
        sc = score_attempt(ex, engine.report(nd))
        if best is None or sc.score > best[0].score:
            best = (sc, nd)
            if sc.score == 100:
                break
    if best is not None:
        v.best_score, v.best_needle = best[0].score, best[1]
    if v.best_score < 100:
        v.problems.append(f"no approach from the skin scores 100/100 (best {v.best_score} of {v.approaches})")
    if ex.classic_mistake is not None:
        eng = mistake_engine or engine
        mex = ex
        if eng is not engine and ex.target_name and ex.target_structure:
            tp = next((t for t in eng.scene.trigger_points if t.name == ex.target_name), None)
            if tp is not None:
                mex = Exercise(**{**ex.__dict__, "target_point": np.asarray(tp.point, float)})
        try:
            sc = score_attempt(mex, eng.report(mistake_needle(mex, eng)))
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
