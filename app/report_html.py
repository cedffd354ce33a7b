"""A self-contained HTML report of a scenario or an attempt: the view, the clearance tables and the
clearance-versus-depth plots (inline SVG), one section per needle. No Qt here."""
from __future__ import annotations

import base64
import html
from datetime import datetime, timezone

import numpy as np

from needlesafe.geometry.report import format_mm as _mm

from . import readout
from .readout import DISCLAIMER
from .theme import BONE_LABEL_COLOUR, BONE_LINE_COLOUR, LEVEL_COLOUR, PALETTE


def clearance_scale(depths, curves: dict, rows) -> tuple[float, list]:
    """The clearance plot's y-range and what lies above it, for the window and the report alike.

    The top follows the curves drawn (all of them fit when they are close together); a curve far
    above the others (a nerve 111 mm away beside a muscle 3 mm away) would flatten the ones that
    matter, so the top is capped at max(5 mm, 4 x the largest margin + 10 mm, 1.5 x the largest
    closest approach of the curves that are near, or of the nearest) and every curve that goes above it is returned
    as (name, highest value mm, lowest value mm), to be marked "off scale" with its real figure.
    """
    if not rows:
        return 5.0, []
    highs = {r.name: float(np.max(curves[r.name])) for r in rows}
    lows = {r.name: float(np.min(curves[r.name])) for r in rows}
    need = max([5.0] + [4.0 * float(r.margin_mm) + 10.0 for r in rows])
    near = [lows[r.name] for r in rows if lows[r.name] <= need]
    # with nothing near, the nearest curve still shows (from its closest approach upward)
    cap = max(need, 1.5 * (max(near) if near else min(lows.values())))
    top = max(5.0, min(max(highs.values()), cap))
    top = float(np.ceil(top / 5.0) * 5.0)  # round ticks
    off = [(r.name, highs[r.name], lows[r.name]) for r in rows if highs[r.name] > top]
    return top, off


def off_scale_at(y, top: float) -> int:
    """The sample where a curve's off-scale mark goes: the off-scale point nearest its closest
    approach (where it comes into view, or its lowest point when it never does)."""
    y = np.asarray(y, float)
    idx = np.flatnonzero(y > top)
    return int(idx[np.argmin(np.abs(idx - int(np.argmin(y))))])


def profile_svg(depths, curves: dict, report, width=760, height=300) -> str:
    """Clearance against depth as an inline SVG: curves, margins (dashed), current and safe depth.
    The legend sits to the right of the plot, never on the curves; values above the y-range are
    marked at the top edge with their real distance."""
    legend_w = 190
    pad_l, pad_r, pad_t, pad_b = 60, 12 + legend_w, 18, 36
    rows = sorted((r for r in report.structures if r.name in curves), key=lambda r: float(np.min(curves[r.name])))
    rows = rows[: len(PALETTE)]
    y_top, off = clearance_scale(depths, curves, rows)
    off_by_name = {name: (hi, lo) for name, hi, lo in off}
    x_max = float(depths[-1]) or 1.0

    def sx(x):
        return pad_l + (width - pad_l - pad_r) * float(x) / x_max

    def sy(y):
        return pad_t + (height - pad_t - pad_b) * (1.0 - min(float(y), y_top) / y_top)

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'font-family="sans-serif" font-size="12">',
           f'<rect x="{pad_l}" y="{pad_t}" width="{width - pad_l - pad_r}" height="{height - pad_t - pad_b}" '
           f'fill="white" stroke="#999"/>']
    for k in range(6):
        xv = x_max * k / 5
        out.append(f'<text x="{sx(xv):.1f}" y="{height - 18}" text-anchor="middle">{xv:.0f}</text>')
        yv = y_top * k / 5
        out.append(f'<text x="{pad_l - 4}" y="{sy(yv) + 4:.1f}" text-anchor="end">{yv:.0f}</text>')
    plot_mid = (pad_l + width - pad_r) / 2
    out.append(f'<text x="{plot_mid:.0f}" y="{height - 3}" text-anchor="middle">insertion depth (mm)</text>')
    mid = (height - pad_b + pad_t) / 2
    out.append(f'<text x="14" y="{mid:.0f}" text-anchor="middle" '
               f'transform="rotate(-90 14 {mid:.0f})">clearance (mm)</text>')
    for colour, r in zip(PALETTE, rows, strict=False):
        # only the part within the y-range is drawn (never a false line along the top edge)
        run = []
        for x, y in list(zip(depths, curves[r.name], strict=True)) + [(None, None)]:
            if y is not None and float(y) <= y_top:
                run.append(f"{sx(x):.1f},{sy(y):.1f}")
                continue
            if len(run) > 1:
                out.append(f'<polyline points="{" ".join(run)}" fill="none" stroke="{colour}" stroke-width="2"/>')
            run = []
        if r.margin_mm <= y_top:
            out.append(f'<line x1="{sx(0):.1f}" x2="{sx(x_max):.1f}" y1="{sy(r.margin_mm):.1f}" '
                       f'y2="{sy(r.margin_mm):.1f}" stroke="{colour}" stroke-dasharray="6 4"/>')
        if r.name in off_by_name:  # an arrow at the top edge where the curve leaves the scale
            x = sx(depths[off_scale_at(curves[r.name], y_top)])
            out.append(f'<path d="M{x - 5:.1f},{pad_t + 8} L{x:.1f},{pad_t} L{x + 5:.1f},{pad_t + 8} Z" '
                       f'fill="{colour}"><title>{html.escape(r.name)}: up to {_mm(off_by_name[r.name][0], 1)} mm, '
                       f'off scale</title></path>')
    n = report.needle
    out.append(f'<line x1="{sx(n.depth_mm):.1f}" x2="{sx(n.depth_mm):.1f}" y1="{pad_t}" y2="{height - pad_b}" '
               f'stroke="black" stroke-width="2"/>')
    if report.path.bone_stop_mm is not None:  # the needle cannot go deeper than the bone
        x = sx(report.path.bone_stop_mm)
        out.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{pad_t}" y2="{height - pad_b}" stroke="{BONE_LINE_COLOUR}" '
                   f'stroke-width="3"><title>bone stop {_mm(report.path.bone_stop_mm, 1)} mm</title></line>'
                   f'<text x="{x + 3:.1f}" y="{pad_t + 10}" font-size="10" fill="{BONE_LABEL_COLOUR}">bone</text>')
    if report.path.safe_depth_mm is not None:
        x = sx(report.path.safe_depth_mm)
        safe = LEVEL_COLOUR["safe"]
        out.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{pad_t}" y2="{height - pad_b}" stroke="{safe}" '
                   f'stroke-dasharray="2 3"/>')
    lx = width - legend_w
    for k, (colour, r) in enumerate(zip(PALETTE, rows, strict=False)):
        y = pad_t + 12 + 30 * k
        out.append(f'<line x1="{lx}" x2="{lx + 18}" y1="{y - 4}" y2="{y - 4}" stroke="{colour}" stroke-width="3"/>'
                   f'<text x="{lx + 24}" y="{y}">{html.escape(r.name)}</text>')
        if r.name in off_by_name:
            hi, lo = off_by_name[r.name]
            out.append(f'<text x="{lx + 24}" y="{y + 13}" font-size="10" fill="#555">&#9650; off scale: '
                       f'{_mm(lo, 1)}&#8211;{_mm(hi, 1)} mm</text>')
    out.append("</svg>")
    return "".join(out)


def needle_section(title: str, report, depths, curves, score=None, scene=None) -> str:
    n = report.needle
    rows = []
    for r in readout.rows_by_danger(report):
        name, shaft, tip, level = (html.escape(c) for c in readout.structure_cells(r))
        rows.append(f"<tr><td>{name}</td><td>{html.escape(r.role)}</td><td>{r.margin_mm:.1f}</td>"
                    f"<td>{shaft}</td><td>{tip}</td><td style='background:{LEVEL_COLOUR[r.level]}'>{level}</td></tr>")
    published = readout.published_sentence(report, scene)
    sentences = [readout.safe_depth_sentence(report), *([published] if published else []),
                 readout.bracketing_sentence(report), readout.path_sentence(report)]
    parts = [
        f"<h2>{html.escape(title)}</h2>",
        f"<p>{html.escape(readout.needle_sentence(report))}; entry "
        f"({', '.join(f'{x:.1f}' for x in n.entry_lps)}) mm, direction "
        f"({', '.join(f'{x:.3f}' for x in n.direction)}). Overall: "
        f"<b style='background:{LEVEL_COLOUR[report.level]}; padding:0 4px'>{report.level.upper()}</b></p>",
        "<table><tr><th>structure</th><th>role</th><th>margin mm</th><th>shaft mm</th><th>tip mm</th>"
        "<th>level</th></tr>" + "".join(rows) + "</table>",
        "<p>" + "<br>".join(html.escape(s) for s in sentences if s) + "</p>",
        profile_svg(depths, curves, report),
    ]
    if score is not None:
        items = "".join(f"<li>{html.escape(f)}</li>" for f in score.get("feedback", []))
        parts.insert(1, f"<p><b>Score {score.get('score')}/100 — {'PASSED' if score.get('passed') else 'NOT PASSED'}"
                        f"</b></p><ul>{items}</ul>")
    return "\n".join(parts)


def section_for(engine, title: str, needle, score=None) -> str:
    """`needle_section` for one needle of `engine`'s scene: its report, its clearance profile and
    the picture of the plane through the needle (`slice_figure`)."""
    depths, curves = engine.profile(needle)
    report = engine.report(needle)
    return needle_section(title, report, depths, curves, score, engine.scene) + "\n" + slice_figure(
        engine.scene, needle, report)


def slice_figure(scene, needle, report) -> str:
    """The needle plane (app/slice_picture.py) as an embedded PNG, or a note saying why it is missing."""
    from .slice_picture import render_slice_png

    try:
        png = render_slice_png(scene, needle, report=report, size=(760, 560))
    except (ValueError, RuntimeError) as exc:
        return f"<p class='note'>The needle plane picture could not be drawn: {html.escape(str(exc))}</p>"
    return ('<figure><img alt="The plane through the needle: sections, danger margins, safe depth" '
            f'src="data:image/png;base64,{base64.b64encode(png).decode()}" style="max-width:100%; '
            'border:1px solid #ccc"><figcaption class="note">The plane through the needle (as an ultrasound probe '
            'held along it would show it): depth from the skin down, the safe depth in green.</figcaption></figure>')


def build_report(title: str, pack_name: str, sections: list, image_png: bytes | None = None) -> str:
    """The whole HTML document; sections are from `needle_section`, the image a PNG of the view."""
    img = ""
    if image_png:
        img = f'<img alt="3D view" src="data:image/png;base64,{base64.b64encode(image_png).decode()}" ' \
              f'style="max-width:100%; border:1px solid #ccc">'
    when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body{{font-family:sans-serif; max-width:960px; margin:2em auto; color:#111}}
table{{border-collapse:collapse}} td,th{{border:1px solid #bbb; padding:3px 8px; text-align:left}}
.note{{color:#555; font-size:90%}}</style></head><body>
<h1>{html.escape(title)}</h1>
<p class="note">Pack: {html.escape(pack_name)}. Written {when} by NeedleSafe. {html.escape(DISCLAIMER)}
Distances are to the needle's surface, rounded down to 0.01 mm.</p>
{img}
{''.join(sections)}
</body></html>
"""
