"""`needlesafe atlas fetch` and `needlesafe atlas status`: the real-anatomy source files on this machine.

`fetch` downloads the eight Z-Anatomy-derived files (or copies them with ``--from DIR``) into the
atlas folder (``--dest``, else ``$NEEDLESAFE_DATA``, else ``~/.local/share/needlesafe/atlas``),
verifying every SHA-256; `status` says what is there, where it came from and its licence. Exit
code 0 when done, 1 when the files cannot be fetched (``needlesafe: error: atlas: ...`` on stderr,
with the manual route), 2 for a bad command line. No Qt here.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path


def add_atlas_parser(sub) -> None:
    """Register `atlas fetch` and `atlas status` under the `needlesafe` subcommands `sub`."""
    a = sub.add_parser("atlas", help="real anatomy: download the Z-Anatomy atlas files, or show what is present")
    cmds = a.add_subparsers(dest="atlas_command", metavar="{fetch,status}", required=True)
    f = cmds.add_parser("fetch", help="download the eight atlas files (13 MB, CC BY-SA 4.0), verified by SHA-256")
    src = f.add_mutually_exclusive_group()
    src.add_argument("--from", dest="source", metavar="DIR",
                     help="copy the files from this folder instead of downloading (no internet needed)")
    src.add_argument("--mirror", metavar="URL", help="download NAME from URL/NAME instead of the pinned URLs")
    f.add_argument("--dest", metavar="DIR", help="atlas folder (default: $NEEDLESAFE_DATA or "
                   "~/.local/share/needlesafe/atlas)")
    s = cmds.add_parser("status", help="which atlas files are present and verified, their source and licence")
    s.add_argument("--dest", metavar="DIR", help="atlas folder (default: as for fetch)")


def _folder(args) -> Path:
    from needlesafe.meshes.atlas.fetch import atlas_dir

    return Path(args.dest) if args.dest else atlas_dir()


def _where(args, folder: Path) -> str:
    from needlesafe.meshes.paths import ATLAS_ENV

    if args.dest:
        return f"{folder} (--dest)"
    if os.environ.get(ATLAS_ENV):
        return f"{folder} (${ATLAS_ENV})"
    return f"{folder} (default; set ${ATLAS_ENV} to change)"


def credit_lines() -> list[str]:
    """The licence and credit of the atlas data, as printed by `status` and after `fetch`."""
    from needlesafe.meshes.atlas.sources import ATTRIBUTION, FILES, PACK_LICENCE

    exporters = list(dict.fromkeys(f.exporter for f in FILES))
    lines = [f"Licence: {PACK_LICENCE}.", "Credit:"]
    lines += [f"  {a}" for a in ATTRIBUTION]
    lines += [f"  exported by {e}" for e in exporters]
    return lines


def _fetch(args) -> int:
    from needlesafe.meshes.atlas.fetch import fetch, status

    folder = _folder(args)
    before = {s.name for s in status(folder) if s.ok} if folder.is_dir() else set()
    origin = f"copying from {args.source}" if args.source else f"downloading from {args.mirror or 'the pinned URLs'}"
    print(f"atlas: {origin} into {_where(args, folder)}", flush=True)
    paths = fetch(folder, source_dir=args.source, mirror=args.mirror)
    new = len(paths) - len(before & {p.name for p in paths})
    verb = "copied" if args.source else "downloaded"
    print(f"atlas: {len(paths)} files verified (SHA-256) in {folder}: {new} {verb}, {len(paths) - new} already present")
    for line in credit_lines():
        print(line)
    return 0


def _status(args) -> int:
    from needlesafe.meshes.atlas.fetch import status

    folder = _folder(args)
    print(f"Atlas folder: {_where(args, folder)}")
    rows = status(folder)
    for s in rows:
        if s.ok:
            state = "verified"
        elif s.present:
            state = "WRONG (size or SHA-256 differs; run needlesafe atlas fetch)"
        else:
            state = "missing"
        size = f"{s.size:,} bytes" if s.size is not None else f"({s.expected_size:,} bytes)"
        print(f"  {s.name:<24} {state:<9} {size:>17}")
        print(f"      source: {s.url}")
        if s.fetched_from and s.fetched_from != s.url:
            print(f"      fetched from: {s.fetched_from}")
        print(f"      exporter: {s.exporter}")
    good = sum(s.ok for s in rows)
    if good == len(rows):
        print(f"All {len(rows)} files present and verified.")
    else:
        print(f"{good} of {len(rows)} files present and verified: run `needlesafe atlas fetch` "
              "(or `needlesafe atlas fetch --from DIR`).")
    for line in credit_lines():
        print(line)
    return 0


def atlas_command(args) -> int:
    """Run `atlas fetch` or `atlas status`; an AtlasError ends with exit code 1."""
    from needlesafe.meshes.errors import AtlasError, Cancelled

    try:
        return {"fetch": _fetch, "status": _status}[args.atlas_command](args)
    except (AtlasError, Cancelled) as exc:
        print(f"needlesafe: error: atlas: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("needlesafe: error: atlas: interrupted; the files already verified are kept", file=sys.stderr)
        return 130
