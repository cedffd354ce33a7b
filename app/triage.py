"""Afterwards: post-procedure triage cases, their scoring and their log records (no Qt here).

A triage case is a JSON file an instructor can write without code (the shipped ones are in
app/triage/, one case a file)::

    {"format": "needlesafe-triage", "version": 1, "id": "burning-pain-back-of-leg",
     "title": "Burning pain down the back of the leg",
     "patient": {"says": "...", "when": "three days after the session", "after": "piriformis, right buttock"},
     "region": ["gluteal", "atlas:gluteal"], "event": "nerve_contact", "structure": "sciatic",
     "answer": "refer",
     "choices": {"reassure": "why this answer is wrong here", ...},
     "reasoning": "...", "red_flags": ["..."], "basis": "teaching case", "sources": ["..."]}

`region` is a built-in region (`gluteal`, `shoulder`), an atlas region (`atlas:REGION`), a list of
them, or null (any region). `event` is the engine event kind that would cause the report (or
"none"); `structure` (optional) is a part of the danger structure's name ("sciatic", "ulnar") so the
debrief after an attempt matches the nerve the needle met. `answer` is one of the four actions
(TRIAGE_ACTIONS, least to most urgent). `choices` (optional) gives a sentence per action saying why
it is right or wrong for this case. `basis` is "teaching case" (an illustrative patient) or
"case report" (adapted from a published case, cited in `sources`).

Scoring (NeedleSafe's teaching rule, not a published one): the right action earns 100 points; a
more urgent action than needed is safe but costly or alarming: 50 points one step too urgent, 25
more; a less urgent one (under-triage) can leave a patient harmed: 0 points. Only the right action
passes.
"""
from __future__ import annotations

import os
import re
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from needlesafe.geometry.events import KINDS
from needlesafe.meshes.errors import NeedleSafeError
from needlesafe.meshes.io import read_json

from .attempt_log import TRIAGE_ACTIONS

FORMAT = "needlesafe-triage"
TRIAGE_DIR = Path(__file__).resolve().parent / "triage"
#: Largest case file read (bytes); a case is a few kB of text.
MAX_FILE_BYTES = 200_000
#: Longest text field (characters) and most items of a list field.
MAX_TEXT = 4000
MAX_ITEMS = 30

#: What each action means, as the student sees it.
ACTION_TEXT = {
    "reassure": "Reassure: expected soreness or bruising, resolves within 24-48 hours",
    "advise_review": "Advise and review: advice now, and a check at a set time or the next session",
    "refer": "Refer for medical follow-up (a doctor sees the patient; today when it is urgent)",
    "emergency": "Emergency: call emergency services / send to the emergency department now",
}
#: Engine event kinds a case can be linked to (the kinds geometry/events.py emits), "none" for none.
EVENT_KINDS = (*KINDS, "none")
#: Most serious first: after an attempt with several events the debrief asks about the first one a
#: case exists for.
EVENT_SEVERITY = ("pleura_puncture", "nerve_contact", "danger_contact", "haematoma_compression", "vessel_puncture",
                  "unknown", "nerve_margin", "bone_contact", "twitch")
BASES = ("teaching case", "case report")
#: Points for an answer `k` steps more urgent than the right one (k >= 1); under-triage earns 0.
OVER_TRIAGE_POINTS = {1: 50}
OVER_TRIAGE_FLOOR = 25
_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")
#: Answers a student may type, besides the action names.
_ALIASES = {"1": "reassure", "2": "advise_review", "3": "refer", "4": "emergency",
            "advise": "advise_review", "review": "advise_review", "advise_and_review": "advise_review"}


class TriageError(NeedleSafeError):
    """A triage case file or an answer cannot be used; the message says why."""


@dataclass(frozen=True)
class TriageCase:
    id: str
    title: str
    says: str
    when: str
    after: str
    regions: tuple | None  # None: any region
    event: str
    structure: str
    answer: str
    reasoning: str
    red_flags: tuple
    basis: str
    sources: tuple
    choices: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["regions"] = list(self.regions) if self.regions is not None else None
        d["red_flags"], d["sources"] = list(self.red_flags), list(self.sources)
        return d


@dataclass
class TriageScore:
    case: str
    answer: str
    correct_action: str
    correct: bool
    points: int  # 0..100
    verdict: str  # "correct", "over-triage" or "under-triage"
    explanation: list

    def to_dict(self) -> dict:
        return asdict(self)


# ----- reading and checking case files ---------------------------------------------------------

def _text(data: dict, key: str, where: str, required: bool = True) -> str:
    value = data.get(key, None if required else "")
    if not isinstance(value, str) or (required and not value.strip()):
        raise TriageError(f"{where}: '{key}' must be {'non-empty ' if required else ''}text")
    if len(value) > MAX_TEXT:
        raise TriageError(f"{where}: '{key}' is too long ({len(value):,} characters; at most {MAX_TEXT:,})")
    return value


def _texts(data: dict, key: str, where: str) -> tuple:
    value = data.get(key)
    if not isinstance(value, list) or not value:
        raise TriageError(f"{where}: '{key}' must be a non-empty list of text")
    if len(value) > MAX_ITEMS:
        raise TriageError(f"{where}: '{key}' has {len(value)} items (at most {MAX_ITEMS})")
    for k, item in enumerate(value):
        if not isinstance(item, str) or not item.strip() or len(item) > MAX_TEXT:
            raise TriageError(f"{where}: {key}[{k}] must be non-empty text of at most {MAX_TEXT:,} characters")
    return tuple(value)


def region_names() -> list[str]:
    """The region names a case may link to: the built-in regions and `atlas:REGION` for every
    shipped atlas recipe (whether or not the atlas is downloaded)."""
    from needlesafe.meshes.atlas.recipe import recipe_ids
    from needlesafe.meshes.builtin import REGIONS

    return [*REGIONS, *(f"atlas:{r}" for r in recipe_ids())]


def region_of_pack(pack: str) -> str:
    """The region a pack name belongs to: "atlas:gluteal:lean" -> "atlas:gluteal", "shoulder:high"
    -> "shoulder", "default" -> "gluteal"; any other name (an imported pack) is returned as it is."""
    from needlesafe.meshes.builtin import ALIASES
    from needlesafe.meshes.habitus import HABITUS_PRESETS

    parts = str(ALIASES.get(pack, pack)).split(":")
    if len(parts) >= 2 and parts[-1] in HABITUS_PRESETS:
        parts = parts[:-1]
    return ":".join(parts)


def _regions(value, where: str) -> tuple | None:
    if value is None:
        return None
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not items or len(items) > MAX_ITEMS or not all(
            isinstance(x, str) for x in items):
        raise TriageError(f"{where}: 'region' must be a region name, a list of them, or null (any region)")
    known = region_names()
    for name in items:
        if name not in known:
            raise TriageError(f"{where}: 'region' {name[:60]!r} is not a region (regions: {', '.join(known)})")
    return tuple(items)


def parse_case(data, where: str = "triage case") -> TriageCase:
    """Validate a triage case dict (see the module docstring); errors name `where` and the key."""
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise TriageError(f"{where}: not a NeedleSafe triage case (format must be '{FORMAT}')")
    if isinstance(data.get("version"), bool) or data.get("version") != 1:
        shown = repr(data.get("version"))
        raise TriageError(f"{where}: unsupported triage case version {shown[:40]} (this NeedleSafe reads version 1)")
    case_id = _text(data, "id", where)
    if not _ID.match(case_id):
        raise TriageError(f"{where}: 'id' must be lower-case letters, digits and '-' (at most 64), "
                          f"got {case_id[:60]!r}")
    title = _text(data, "title", where)
    patient = data.get("patient")
    if not isinstance(patient, dict):
        raise TriageError(f"{where}: 'patient' must be an object with 'says', 'when' and 'after'")
    says, when, after = (_text(patient, k, f"{where}: patient") for k in ("says", "when", "after"))
    regions = _regions(data.get("region"), where)
    event = data.get("event")
    if not isinstance(event, str) or event not in EVENT_KINDS:
        raise TriageError(f"{where}: 'event' must be one of {', '.join(EVENT_KINDS)}, got {repr(event)[:40]}")
    structure = _text(data, "structure", where, required=False).strip().lower()
    answer = data.get("answer")
    if not isinstance(answer, str) or answer not in TRIAGE_ACTIONS:
        raise TriageError(f"{where}: 'answer' must be one of {', '.join(TRIAGE_ACTIONS)}, got {repr(answer)[:40]}")
    choices = data.get("choices", {})
    if not isinstance(choices, dict):
        raise TriageError(f"{where}: 'choices' must map actions ({', '.join(TRIAGE_ACTIONS)}) to text")
    for key in choices:
        if key not in TRIAGE_ACTIONS:
            raise TriageError(f"{where}: choices: unknown action {key[:40]!r} (actions: {', '.join(TRIAGE_ACTIONS)})")
        _text(choices, key, f"{where}: choices")
    reasoning = _text(data, "reasoning", where)
    red_flags = _texts(data, "red_flags", where)
    basis = data.get("basis")
    if basis not in BASES:
        raise TriageError(f"{where}: 'basis' must be one of {', '.join(repr(b) for b in BASES)}")
    sources = _texts(data, "sources", where)
    return TriageCase(case_id, title, says, when, after, regions, event, structure, answer, reasoning,
                      red_flags, basis, sources, dict(choices))


def load_case(path) -> TriageCase:
    """Read and validate one case file; every problem is a TriageError naming the file."""
    data = read_json(path, MAX_FILE_BYTES, TriageError, "triage case")
    return parse_case(data, str(path))


def builtin_cases() -> list[Path]:
    """The case files shipped with NeedleSafe."""
    return sorted(TRIAGE_DIR.glob("*.json"))


def load_cases(paths=None) -> list[TriageCase]:
    """Every case of `paths` (default: the shipped ones); the first bad file raises, ids must be unique."""
    cases, seen = [], {}
    for p in builtin_cases() if paths is None else paths:
        case = load_case(p)
        if case.id in seen:
            raise TriageError(f"{p}: id '{case.id}' is already used by {seen[case.id]}")
        seen[case.id] = p
        cases.append(case)
    return cases


def find_case(ref: str) -> TriageCase:
    """A case by shipped id (its file name), or a case file by path (ending .json or holding a /)."""
    if ref.endswith(".json") or "/" in ref or os.sep in ref:
        return load_case(ref)
    for q in builtin_cases():
        if q.stem == ref:
            return load_case(q)
    raise TriageError(f"no triage case '{ref[:80]}' (shipped: {', '.join(q.stem for q in builtin_cases())})")


# ----- scoring ---------------------------------------------------------------------------------

def parse_answer(text) -> str:
    """An action name from what a student typed ("refer", "advise-and-review", "3" ...)."""
    key = str(text).strip().lower().replace("-", "_").replace(" ", "_")
    key = _ALIASES.get(key, key)
    if key not in TRIAGE_ACTIONS:
        raise TriageError(f"answer {str(text)[:40]!r} is not an action (actions: {', '.join(TRIAGE_ACTIONS)}, "
                          "or 1-4)")
    return key


def score_triage(case: TriageCase, answer: str) -> TriageScore:
    """Score an answer (an action name; see `parse_answer`) to a case and explain it."""
    answer = parse_answer(answer)
    steps = TRIAGE_ACTIONS.index(answer) - TRIAGE_ACTIONS.index(case.answer)
    right = ACTION_TEXT[case.answer]
    if steps == 0:
        verdict, points = "correct", 100
        lines = [f"Correct: {right}."]
    elif steps > 0:
        verdict, points = "over-triage", OVER_TRIAGE_POINTS.get(steps, OVER_TRIAGE_FLOOR)
        lines = [f"More urgent than needed: you chose '{ACTION_TEXT[answer]}'; this case calls for: {right}. "
                 "Safe, but it alarms the patient and uses care they do not need."]
    else:
        verdict, points = "under-triage", 0
        lines = [f"Not urgent enough: you chose '{ACTION_TEXT[answer]}'; this case calls for: {right}. "
                 "Under-triage can leave a patient harmed."]
    if answer in case.choices:
        lines.append(case.choices[answer])
    if answer != case.answer and case.answer in case.choices:
        lines.append(case.choices[case.answer])
    lines.append(f"Why: {case.reasoning}")
    lines.append("Red flags: " + "; ".join(case.red_flags) + ".")
    lines.append(f"Sources ({case.basis}): " + " | ".join(case.sources))
    return TriageScore(case.id, answer, case.answer, steps == 0, points, verdict, lines)


def triage_record(student: str, case: TriageCase, score: TriageScore) -> dict:
    """One line of the student's attempt log (the log exercises use; kind "triage")."""
    return {
        "kind": "triage",
        "time": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "student": student,
        "case": case.id,
        "title": case.title,
        "region": case.regions[0] if case.regions else None,
        "event": case.event,
        "answer": score.answer,
        "correct_action": score.correct_action,
        "score": {"score": score.points, "passed": score.correct, "verdict": score.verdict,
                  "feedback": list(score.explanation)},
    }


def log_triage(student: str, case: TriageCase, score: TriageScore) -> Path:
    """Append the answer to the student's attempt log; returns the log's path."""
    from .attempt_log import append_attempt, log_path

    path = log_path(student)
    append_attempt(path, triage_record(student, case, score))
    return path


# ----- the debrief: the question that matches what the needle did --------------------------------

def _region_rank(case: TriageCase, region: str | None) -> int:
    """3: the case names this region; 2: the same anatomy in another pack family ("gluteal" and
    "atlas:gluteal"); 1: the case applies to any region; 0: another region."""
    if case.regions is None:
        return 1
    if region is None:
        return 0
    region = region_of_pack(region)
    if region in case.regions:
        return 3
    base = region.split(":")[-1]
    return 2 if any(r.split(":")[-1] == base for r in case.regions) else 0


def cases_for_event(kind: str, region: str | None = None, structure: str | None = None,
                    cases: list | None = None) -> list[TriageCase]:
    """The cases linked to an engine event `kind` in `region` (a region or pack name), best first.

    A case tied to a structure ("ulnar") matches only an event on a structure whose name contains
    it; a case tied to other regions does not match. Ties go by id."""
    cases = load_cases() if cases is None else cases
    name = (structure or "").lower()
    ranked = []
    for c in cases:
        if c.event != kind:
            continue
        rank = _region_rank(c, region)
        if rank == 0:
            continue
        if c.structure and c.structure not in name:
            continue
        ranked.append((-rank, -bool(c.structure), c.id, c))
    return [r[-1] for r in sorted(ranked, key=lambda r: r[:3])]


def case_for_event(kind: str, region: str | None = None, structure: str | None = None,
                   cases: list | None = None) -> TriageCase | None:
    """The triage question the debrief asks after an attempt caused event `kind` in `region`, or None."""
    found = cases_for_event(kind, region, structure, cases)
    return found[0] if found else None


def case_for_events(events, region: str | None = None, cases: list | None = None) -> TriageCase | None:
    """The question for an attempt's events (objects with `kind` and `structure`, or dicts): the most
    serious event (EVENT_SEVERITY) that has a case."""
    cases = load_cases() if cases is None else cases

    def get(e, key):
        return e.get(key) if isinstance(e, dict) else getattr(e, key, None)

    for kind in EVENT_SEVERITY:
        for e in events:
            if get(e, "kind") == kind:
                case = case_for_event(kind, region, get(e, "structure"), cases)
                if case is not None:
                    return case
    return None
