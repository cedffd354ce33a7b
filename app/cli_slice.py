"""The command line's `slice` command: the needle plane as a picture (coloured sections, or the
ultrasound look), written atomically as PNG (no Qt). Errors are raised as NeedleSafeError for
`cli.main` to print."""
from __future__ import annotations

import math
from pathlib import Path

from needlesafe.meshes.errors import NeedleSafeError


class SliceError(NeedleSafeError):
    """A `slice` option is unusable; the message names it."""


def add_slice_parser(sub) -> None:
    """Register `slice` under the `needlesafe` subcommands `sub`."""
    s = sub.add_parser("slice", help="picture of the plane through the needle, as an ultrasound probe would show it")
    s.add_argument("--pack", required=True, help="pack folder or name (e.g. gluteal, atlas:gluteal:average)")
    s.add_argument("--entry", type=float, nargs=3, required=True, metavar=("X", "Y", "Z"), help="entry point, mm LPS")
    s.add_argument("--direction", type=float, nargs=3, required=True, metavar=("DX", "DY", "DZ"))
    s.add_argument("--depth", type=float, required=True, help="inserted depth, mm")
    s.add_argument("--angle", type=float, default=0.0, metavar="DEG",
                   help="turn of the plane about the needle, degrees (default 0: the plane holding the needle "
                        "and the patient's superior axis; 90: across it)")
    s.add_argument("--ultrasound", action="store_true", help="draw the B-mode-like ultrasound look")
    s.add_argument("--length", type=float, default=50.0, help="needle length, mm (default 50)")
    s.add_argument("--gauge", type=float, default=0.30, help="needle diameter, mm (default 0.30)")
    s.add_argument("--size", type=int, nargs=2, default=[900, 700], metavar=("W", "H"),
                   help="picture size in pixels (default 900 700; 200..8000 each)")
    s.add_argument("--seed", type=int, default=0, help="seed of the ultrasound speckle (default 0)")
    s.add_argument("--out", required=True, help="PNG file to write")


def slice_command(args) -> int:
    from needlesafe.geometry.clearance import ClearanceEngine
    from needlesafe.geometry.needle import Needle
    from needlesafe.meshes.io import atomic_write_bytes, check_output_path
    from needlesafe.meshes.resolve import load_pack

    from .slice_picture import render_slice_png

    if not math.isfinite(args.angle):
        raise SliceError(f"--angle must be a finite number of degrees, got {args.angle}")
    w, h = args.size
    if not (200 <= w <= 8000 and 200 <= h <= 8000):
        raise SliceError(f"--size must be two whole numbers of pixels from 200 to 8000, got {w} {h}")
    out = check_output_path(args.out)
    if Path(out).suffix.lower() != ".png":
        raise SliceError(f"--out {args.out}: the picture is written as .png")
    needle = Needle(args.entry, args.direction, args.depth, args.length, args.gauge)
    scene = load_pack(args.pack)
    report = ClearanceEngine(scene).report(needle)
    png = render_slice_png(scene, needle, args.angle, ultrasound=args.ultrasound, size=(w, h), report=report,
                           seed=args.seed)
    atomic_write_bytes(out, png)
    safe = report.path.safe_depth_mm
    print(f"wrote {out} ({w} x {h}, {'ultrasound look' if args.ultrasound else 'sections'}, plane turned "
          f"{args.angle:g}°); safe depth " + ("UNKNOWN (treat as danger)" if safe is None else f"{safe:.2f} mm"))
    return 0
