"""The command line's `triage` command: present a post-procedure case, take the answer, score it,
explain it and log it (no Qt). Errors are raised as NeedleSafeError for `cli.main` to print."""
from __future__ import annotations

import json
import random
import sys
import textwrap


def add_triage_parser(sub) -> None:
    t = sub.add_parser("triage", help="post-procedure triage: what to do when a patient reports back")
    t.add_argument("--case", help="case id (shipped) or path to a case .json (default: a random shipped case)")
    t.add_argument("--answer", help="reassure, advise_review, refer or emergency (or 1-4); without it, "
                   "asked on the terminal")
    t.add_argument("--student", help="also append the answer to this student's attempt log")
    t.add_argument("--list", action="store_true", help="list the shipped cases")
    t.add_argument("--json", action="store_true", help="print the case and the score as one JSON object")


def _wrap(text: str, indent: str = "  ") -> str:
    return textwrap.fill(text, width=100, initial_indent=indent, subsequent_indent=indent)


def present(case) -> str:
    """The case as the student reads it, with the numbered actions."""
    from needlesafe.app.triage import ACTION_TEXT

    where = ", ".join(case.regions) if case.regions else "any region"
    lines = [f"{case.title} ({case.id}; {where})", "",
             _wrap(f"After: {case.after}."), _wrap(f"When: {case.when}."), _wrap(f'The patient says: "{case.says}"'),
             "", "What do you do?"]
    lines += [f"  {k}. {name:<14} {text}" for k, (name, text) in enumerate(ACTION_TEXT.items(), start=1)]
    return "\n".join(lines)


def _ask() -> str | None:
    """The answer typed on the terminal, asked again until it is an action; None at end of input."""
    from needlesafe.app.triage import TriageError, parse_answer

    while True:
        try:
            text = input("Your answer (1-4 or the action's name): ")
        except EOFError:
            return None
        try:
            return parse_answer(text)
        except TriageError as exc:
            print(exc)


def triage_command(args) -> int:
    from needlesafe.app.exercises import ExerciseError
    from needlesafe.app.triage import TriageError, builtin_cases, find_case, load_cases, log_triage, score_triage

    if args.list:
        cases = load_cases()
        if args.json:
            print(json.dumps([c.to_dict() for c in cases]))
        else:
            width = max(len(c.id) for c in cases)
            for c in cases:
                print(f"{c.id:<{width}}  {c.answer:<13}  {c.title}")
        return 0
    if args.case is None:
        if args.answer is not None:
            raise TriageError("--answer: give the case it answers with --case ID")
        args.case = random.choice(builtin_cases()).stem
    case = find_case(args.case)
    answer = args.answer
    if answer is None:
        if not sys.stdin.isatty():
            raise TriageError(f"--case {args.case}: no answer: give --answer (one of reassure, advise_review, "
                              "refer, emergency) when not at a terminal")
        print(present(case))
        answer = _ask()
        if answer is None:
            print("no answer given; nothing scored")
            return 1
    try:
        score = score_triage(case, answer)
    except TriageError as exc:
        raise TriageError(f"--answer: {exc}") from None
    logged = None
    if args.student:
        try:
            logged = log_triage(args.student, case, score)
        except (ExerciseError, OSError) as exc:
            raise TriageError(f"could not log the answer: {exc}") from None
    if args.json:
        out = {"case": case.to_dict(), "score": score.to_dict()}
        if logged is not None:
            out["log"] = str(logged)
        print(json.dumps(out))
        return 0
    if args.answer is not None:
        print(present(case))
    print()
    print(f"{score.points}/100, {score.verdict}")
    for line in score.explanation:
        print(textwrap.fill(line, width=100, initial_indent="  - ", subsequent_indent="    "))
    if logged is not None:
        print(f"logged to {logged}")
    return 0
