"""The `needlesafe` command line: the app, clearance checks, packs and imports, safety maps, exercises and reports."""
from __future__ import annotations

import argparse
import math
import re
import sys
from pathlib import Path

from .cli_atlas import add_atlas_parser, atlas_command
from .cli_exercises import attempts_command, exercises_command, report_command, score_command
from .cli_slice import add_slice_parser, slice_command
from .cli_triage import add_triage_parser, triage_command
from .readout import DISCLAIMER


class _Parser(argparse.ArgumentParser):
    """Usage errors of every command read `needlesafe: error: COMMAND: ...`, as all other errors do."""

    def error(self, message):
        self.print_usage(sys.stderr)
        command = self.prog.split(" ", 1)[1] + ": " if " " in self.prog else ""
        self.exit(2, f"needlesafe: error: {command}{message}\n")


def _parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="needlesafe",
        description="Dry-needling safety trainer. " + DISCLAIMER + " Without a command, opens the app.",
    )
    sub = p.add_subparsers(dest="command")

    g = sub.add_parser("gui", help="open the desktop app (the default)")
    g.add_argument("--pack", help="pack folder or name (default: atlas:gluteal:average when the atlas is "
                   "downloaded, else the schematic default)")

    c = sub.add_parser("check", help="clearance report for one needle")
    c.add_argument("--pack", required=True, help="pack folder or built-in pack name")
    c.add_argument("--entry", type=float, nargs=3, required=True, metavar=("X", "Y", "Z"), help="entry point, mm LPS")
    c.add_argument("--direction", type=float, nargs=3, required=True, metavar=("DX", "DY", "DZ"))
    c.add_argument("--depth", type=float, required=True, help="inserted depth, mm")
    c.add_argument("--length", type=float, default=50.0, help="needle length, mm (default 50)")
    c.add_argument("--gauge", type=float, default=0.30, help="needle diameter, mm (default 0.30)")
    c.add_argument("--json", action="store_true", help="print the report as one JSON object")

    i = sub.add_parser("import", help="turn a folder of atlas meshes into a pack")
    i.add_argument("src", help="folder of PLY/STL/OBJ/GLB/VTP meshes")
    i.add_argument("--units", required=True, choices=["m", "cm", "mm"], help="units of the source meshes")
    i.add_argument("--axes", required=True, help="three letters: patient direction of source +x, +y, +z (e.g. LSA)")
    i.add_argument("--out", required=True, help="pack folder to write")
    i.add_argument("--overrides", help="JSON/TOML file: roles, critical flags, margins, landmarks")
    i.add_argument("--name", help="pack name (default: the folder's name)")
    i.add_argument(
        "--skin-fat", type=float, metavar="MM",
        help="also generate a closed skin envelope this many mm (fat layer) outside every structure",
    )

    p_packs = sub.add_parser("packs", help="list built-in packs and imported packs")
    p_packs.add_argument("--dir", nargs="*", default=[], help="more folders to look in for packs")

    b = sub.add_parser("build-region", help="write a generated region as a pack folder")
    b.add_argument("name", choices=["gluteal", "shoulder"])
    b.add_argument("--habitus", default="average", choices=["lean", "average", "high"])
    b.add_argument("--out", required=True, help="pack folder to write")

    mp = sub.add_parser("map", help="safety map: the deepest safe insertion from every skin vertex")
    mp.add_argument("--pack", required=True, help="pack folder or built-in pack name")
    mp.add_argument("--direction", nargs="+", default=["normal"], metavar="D",
                    help="'normal' (inward skin normal, default) or three numbers DX DY DZ")
    mp.add_argument("--length", type=float, default=50.0, help="needle length for the danger zone, mm")
    mp.add_argument("--gauge", type=float, default=0.30, help="needle diameter, mm")
    mp.add_argument("--out", required=True, help="map.vtp, map.csv or map.png")

    ex = sub.add_parser("exercises", help="list the exercises")
    ex.add_argument("--dir", help="a folder of exercise files (default: the shipped ones)")

    sc = sub.add_parser("score", help="score one needle against an exercise")
    sc.add_argument("exercise", help="exercise id (shipped) or path to an exercise file")
    sc.add_argument("--entry", type=float, nargs=3, metavar=("X", "Y", "Z"), help="needed unless --decline")
    sc.add_argument("--direction", type=float, nargs=3, metavar=("DX", "DY", "DZ"), help="needed unless --decline")
    sc.add_argument("--depth", type=float, help="needed unless --decline")
    sc.add_argument("--decline", metavar="REASON",
                    help="decline to needle instead (\"Do not needle here\"), for REASON: one of "
                         "pleura_in_reach_no_backstop, danger_margin_on_path, nerve_on_path, needle_too_long, other")
    sc.add_argument("--redirections", type=int, default=0)
    sc.add_argument("--student", help="also append the attempt to this student's log")
    sc.add_argument("--json", action="store_true")

    at = sub.add_parser("attempts", help="read a student's attempt log or a class folder of logs: table, "
                                         "metrics, summary, gradebook CSV")
    at.add_argument("log", help="a .jsonl attempt log, or a folder of them (every *.jsonl: a class)")
    at.add_argument("--csv", help="write the gradebook here (one row per student and exercise, then per attempt)")

    rp = sub.add_parser("report", help="HTML report of a scenario or of one logged attempt")
    src = rp.add_mutually_exclusive_group(required=True)
    src.add_argument("--scenario", help="a scenario .json")
    src.add_argument("--log", help="an attempt log .jsonl (with --attempt)")
    rp.add_argument("--attempt", type=int, default=1, help="which attempt of the log, from 1 (default 1)")
    rp.add_argument("--out", required=True, help="report .html to write")

    r = sub.add_parser("render", help="write an off-screen picture of a pack")
    r.add_argument("--pack", required=True, help="pack folder or built-in pack name")
    r.add_argument("--view", default="posterior", choices=["posterior", "anterior", "lateral", "superior", "oblique"])
    r.add_argument("--out", required=True, help="PNG file to write")
    r.add_argument("--hide", nargs="*", default=[], metavar="ROLE", help="roles to leave out (e.g. skin)")

    add_triage_parser(sub)
    add_slice_parser(sub)
    add_atlas_parser(sub)
    # argparse takes "-1e200" or "-inf" for an option; let every parser read them as numbers
    for parser in [p, *sub.choices.values()]:
        if hasattr(parser, "_negative_number_matcher"):
            parser._negative_number_matcher = _NEGATIVE_NUMBER
    return p


_NEGATIVE_NUMBER = re.compile(r"^-(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$|^-(inf|infinity|nan)$", re.IGNORECASE)

# where each command writes: (option attribute, a folder rather than a file)
_OUTPUTS = {"report": ("out", False), "map": ("out", False), "render": ("out", False), "attempts": ("csv", False),
            "import": ("out", True), "build-region": ("out", True)}


class _ArgumentError(ValueError):
    """A command-line value is unusable; the message names the option."""


def _validate(args) -> None:
    """Check every number, name and output path of the command line before any work, naming the
    option: non-finite or out-of-range numbers never reach geometry, an output that cannot be
    written is refused before a long computation, a NUL character is refused everywhere."""
    from needlesafe.geometry.needle import MAX_COORD_MM, MAX_GAUGE_MM, MAX_LENGTH_MM
    from needlesafe.meshes.io import check_output_path

    for key, value in vars(args).items():
        for v in value if isinstance(value, list) else [value]:
            if isinstance(v, str) and "\0" in v:
                raise _ArgumentError(f"{_opt(key)} {v!r}: a file name or value cannot hold a NUL character")

    def number(key, lo=None, hi=None, lo_open=False, what="mm"):
        v = getattr(args, key, None)
        if v is None:
            return
        ok = math.isfinite(v) and (lo is None or (v > lo if lo_open else v >= lo)) and (hi is None or v <= hi)
        if not ok:
            kind = "a positive finite number" if lo_open else "a finite number >= 0"
            most = f" (at most {hi:g})" if hi is not None else ""
            raise _ArgumentError(f"{_opt(key)} must be {kind} of {what}{most}, got {v}")

    entry = getattr(args, "entry", None)
    if entry is not None and not all(math.isfinite(x) and abs(x) <= MAX_COORD_MM for x in entry):
        raise _ArgumentError(f"--entry must be three finite numbers within {MAX_COORD_MM:g} mm, got {entry}")
    direction = getattr(args, "direction", None)
    if direction is not None and direction != ["normal"]:
        try:
            d = [float(x) for x in direction]
        except ValueError:
            d = []
        if len(d) == 3 and not all(math.isfinite(x) for x in d):
            raise _ArgumentError(f"--direction must be three finite numbers, got {direction}")
    number("depth", lo=0.0)
    number("length", lo=0.0, hi=MAX_LENGTH_MM, lo_open=True)
    number("gauge", lo=0.0, hi=MAX_GAUGE_MM, lo_open=True, what="mm (the shaft diameter, e.g. 0.30)")
    number("skin_fat", lo=0.0)
    red = getattr(args, "redirections", None)
    if red is not None and red < 0:
        raise _ArgumentError(f"--redirections must be a whole number >= 0, got {red}")
    student = getattr(args, "student", None)
    if student is not None and not student.strip():
        raise _ArgumentError("--student: give the student's name (it is empty)")
    if args.command in _OUTPUTS:
        key, folder = _OUTPUTS[args.command]
        if getattr(args, key, None) is not None:
            check_output_path(getattr(args, key), folder=folder)


def _opt(key: str) -> str:
    return key if key in ("exercise", "log", "src") else "--" + key.replace("_", "-")


def _check(args) -> int:
    from needlesafe.geometry.clearance import ClearanceEngine
    from needlesafe.geometry.events import events_for
    from needlesafe.geometry.needle import Needle
    from needlesafe.meshes.resolve import load_pack

    needle = Needle(args.entry, args.direction, args.depth, args.length, args.gauge)
    scene = load_pack(args.pack)
    engine = ClearanceEngine(scene)
    report = engine.report(needle)
    events = events_for(engine, needle, report=report)
    if args.json:
        import json

        from needlesafe.app.readout import published_sentence

        data = json.loads(report.to_json())
        data["published"] = published_sentence(report, scene)
        data["events"] = [e.to_dict() for e in events]
        print(json.dumps(data, allow_nan=False))
    else:
        from needlesafe.app.readout import event_lines

        print(format_report(report, scene))
        print("\n".join(event_lines(events)))
    return 0


def format_report(report, scene=None) -> str:
    """A readable table of a ClearanceReport (distances rounded down, toward danger)."""
    from needlesafe.app import readout

    n = report.needle
    xyz = lambda v: "(" + ", ".join(f"{x:.1f}" for x in v) + ")"  # noqa: E731
    lines = [
        f"NeedleSafe clearance, pack '{report.pack}'. {DISCLAIMER}",
        f"Entry {xyz(n.entry_lps)}, direction ({', '.join(f'{x:.3f}' for x in n.direction)}), "
        f"tip {xyz(n.tip_lps)} (mm, LPS)",
        "",
        f"{'structure':<40} {'role':<7} {'margin':>7} {'shaft mm':>9} {'tip mm':>8}  level",
    ]
    for s in readout.rows_by_danger(report):
        name, shaft, tip, level = readout.structure_cells(s)
        lines.append(f"{name:<40} {s.role:<7} {s.margin_mm:>7.1f} {shaft:>9} {tip:>8}  {level}")
    if not report.structures:
        lines.append("(no critical structure in this pack)")
    lines.append("")
    lines += readout.summary_lines(report, scene)
    for e in report.errors:
        lines.append(f"error: {e}")
    return "\n".join(lines)


def _import(args) -> int:
    from needlesafe.meshes.importer import import_folder

    _, report = import_folder(
        args.src, args.units, args.axes, args.out, args.overrides, args.name, skin_fat_mm=args.skin_fat
    )
    print(report.text())
    return 0


def _print_atlas_packs() -> None:
    """The atlas packs (`atlas:REGION:HABITUS`, one per shipped recipe and habitus) when the atlas is
    downloaded; otherwise how to get it."""
    from needlesafe.meshes.atlas.build import atlas_names
    from needlesafe.meshes.atlas.fetch import atlas_present
    from needlesafe.meshes.atlas.recipe import load_recipe, recipe_path

    if not atlas_present():
        print("Atlas: not downloaded (`needlesafe atlas fetch` gives the atlas:REGION[:HABITUS] packs)")
        return
    print("Atlas (Z-Anatomy / BodyParts3D meshes, CC BY-SA 4.0; each built once on first use):")
    for name in atlas_names():
        region = name.split(":")[1]
        print(f"  {name}\t{load_recipe(recipe_path(region)).title}")


def _packs(args) -> int:
    from needlesafe.meshes.builtin import builtin_names
    from needlesafe.meshes.io import read_table
    from needlesafe.meshes.pack import MANIFEST_NAMES
    from needlesafe.meshes.resolve import find_packs, user_packs_dir
    from needlesafe.meshes.types import PackError

    for d in args.dir:
        if not Path(d).is_dir():
            raise PackError(f"{d}: --dir: not a folder")

    print("Built-in (generated, no download):")
    for name in builtin_names():
        print(f"  {name}")
    _print_atlas_packs()
    packs = find_packs(args.dir)
    print(f"Imported ({user_packs_dir()}{' and ' + ', '.join(args.dir) if args.dir else ''}):")
    for folder in packs:
        name = folder.name
        manifest = next(folder / m for m in MANIFEST_NAMES if (folder / m).is_file())
        try:
            data = read_table(manifest, error=PackError, what="pack manifest")
            if not isinstance(data, dict):
                raise PackError(f"{manifest}: not an object")
            name = data.get("name", name)
            structures = data.get("structures", [])
            count = len(structures) if isinstance(structures, list) else "?"
            print(f"  {name}\t{folder}\t{count} structures")
        except PackError as exc:
            print(f"  {name}\t{folder}\t(unreadable manifest)")
            print(f"warning: {exc}", file=sys.stderr)
    if not packs:
        print("  (none)")
    return 0


def _build_region(args) -> int:
    from needlesafe.meshes.builtin import build_region
    from needlesafe.meshes.pack import write_pack

    scene = build_region(args.name, args.habitus)
    path = write_pack(scene, args.out)
    print(f"wrote {scene.name}: {len(scene.structures)} structures, {scene.n_triangles:,} triangles -> {path}")
    return 0


def _render(args) -> int:
    from needlesafe.app.render import render_scene
    from needlesafe.meshes.resolve import load_pack

    path = render_scene(load_pack(args.pack), args.view, args.out, hidden_roles=tuple(args.hide))  # writes args.out
    print(f"wrote {path}")
    return 0


def _map(args) -> int:
    import time

    from needlesafe.app.safety_export import write_map
    from needlesafe.geometry.clearance import ClearanceEngine
    from needlesafe.geometry.safety_map import compute_safety_map
    from needlesafe.meshes.resolve import load_pack

    if args.direction == ["normal"]:
        direction = "normal"
    else:
        try:
            direction = [float(x) for x in args.direction]
        except ValueError:
            direction = None
        if direction is None or len(direction) != 3:
            print("needlesafe: error: --direction takes 'normal' or three numbers", file=sys.stderr)
            return 2
    if not (args.length > 0 and math.isfinite(args.length)):
        print("needlesafe: error: --length must be a positive number of mm", file=sys.stderr)
        return 2
    if Path(args.out).suffix.lower() not in (".vtp", ".csv", ".png"):
        print(f"needlesafe: error: {args.out}: write the map as .vtp, .csv or .png", file=sys.stderr)
        return 2
    scene = load_pack(args.pack)
    engine = ClearanceEngine(scene)
    t0 = time.perf_counter()
    try:
        smap = compute_safety_map(engine, direction, args.gauge)
    except ValueError as exc:
        print(f"needlesafe: error: {exc}", file=sys.stderr)
        return 2
    elapsed = time.perf_counter() - t0
    try:
        path = write_map(scene, smap, args.out, args.length)
    except ValueError as exc:
        print(f"needlesafe: error: {exc}", file=sys.stderr)
        return 2
    danger = int(smap.danger_zone(args.length).sum())
    print(f"safety map of {scene.name}: {len(smap.points):,} skin vertices in {elapsed:.2f} s; "
          f"{danger:,} in the danger zone of a {args.length:g} mm needle; "
          f"{int(smap.backstop.sum()):,} with a bony backstop -> {path}")
    return 0


def _gui(args) -> int:
    from needlesafe.app.packs import default_pack
    from needlesafe.app.qt.startup import run

    return run(args.pack or default_pack())


def main(argv=None) -> int:
    """Run one command. Bad input of any kind ends with exit code 2 and one line
    `needlesafe: error: ...` on stderr naming the file or option and the problem."""
    from needlesafe.meshes.errors import NeedleSafeError
    from needlesafe.meshes.io import OutputPathError

    parser = _parser()
    args = parser.parse_args(argv)
    handlers = {"check": _check, "import": _import, "packs": _packs, "build-region": _build_region, "render": _render,
                "map": _map, "exercises": exercises_command, "score": score_command, "attempts": attempts_command,
                "report": report_command, "atlas": atlas_command, "triage": triage_command, "slice": slice_command,
                "gui": _gui, None: _gui}
    if args.command is None:
        args.pack = None
    try:
        _validate(args)
        return handlers[args.command](args)
    except (NeedleSafeError, OutputPathError, _ArgumentError) as exc:
        print(f"needlesafe: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # a write that failed after the checks (disk full, removed folder ...)
        where = exc.filename if exc.filename is not None else "output"
        print(f"needlesafe: error: {where}: cannot write: {exc.strerror or exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
