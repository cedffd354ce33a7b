"""`needlesafe slice`: the needle-plane picture on an analytic pack (and an atlas region when the
atlas files are beside the repository), the ultrasound look, and bad input."""
from __future__ import annotations

import imageio.v3 as iio
import numpy as np
import pytest

from needlesafe.app.cli import main
from needlesafe.app.slice_picture import SliceWindow, render_slice_png, ultrasound_image, window_for
from needlesafe.geometry.needle import Needle
from needlesafe.geometry.slice import Slicer, needle_plane
from needlesafe.meshes.pack import write_pack
from needlesafe.meshes.types import DEFAULT_COLOUR
from tests.conftest import box_mesh, cylinder_mesh, scene_of, structure

# a block of body entered from y = 60 running anterior (-y): depth = 60 - y, at angle 0 lateral = z
ENTRY = ["0", "60", "0"]
DIRECTION = ["0", "-1", "0"]


def analytic_scene():
    skin = structure("skin", "skin", box_mesh([-80, -60, -80], [80, 60, 80]))
    muscle = structure("gluteus_maximus", "muscle", box_mesh([-60, 20, -60], [60, 45, 60]))
    nerve = structure("sciatic_nerve", "nerve", cylinder_mesh(4.0, -70, 70, sides=64, y=5.0, z=2.0), margin=3.0)
    bone = structure("femur", "bone", box_mesh([-60, -40, -25], [60, -15, 25]))   # depth 75..100, lateral -25..25
    return scene_of(skin, muscle, nerve, bone)


@pytest.fixture(scope="module")
def pack(tmp_path_factory):
    folder = tmp_path_factory.mktemp("slicepack") / "block"
    write_pack(analytic_scene(), folder)
    return str(folder)


def run(pack, tmp_path, *extra, name="slice.png"):
    out = tmp_path / name
    code = main(["slice", "--pack", pack, "--entry", *ENTRY, "--direction", *DIRECTION, "--depth", "40",
                 "--length", "75", "--out", str(out), *extra])
    return code, out


def _has_colour(img, colour, tol=3, at_least=200):
    rgb = np.array([int(colour[k:k + 2], 16) for k in (1, 3, 5)])
    near = np.all(np.abs(img[..., :3].astype(int) - rgb) <= tol, axis=-1)
    return int(near.sum()) >= at_least


def test_slice_writes_a_png_of_the_size_asked_with_the_structure_colours(pack, tmp_path, capsys):
    code, out = run(pack, tmp_path, "--size", "640", "480")
    assert code == 0
    assert "wrote" in capsys.readouterr().out
    img = iio.imread(out)
    assert img.shape[:2] == (480, 640)
    for role in ("muscle", "nerve", "bone"):
        assert _has_colour(img, DEFAULT_COLOUR[role]), role


def test_slice_turned_90_degrees_still_shows_the_nerve_across(pack, tmp_path):
    # the nerve runs along x through the needle's line: across at 0 degrees, a long band at 90
    _, at0 = run(pack, tmp_path, "--angle", "0", name="a0.png")
    _, at90 = run(pack, tmp_path, "--angle", "90", name="a90.png")
    count = [int(np.all(np.abs(iio.imread(p)[..., :3].astype(int) - [0xF4, 0xD0, 0x3F]) <= 3, axis=-1).sum())
             for p in (at0, at90)]
    assert count[1] > 4 * count[0] > 0


def test_ultrasound_cli_is_deterministic_and_greyscale(pack, tmp_path):
    code, a = run(pack, tmp_path, "--ultrasound", "--size", "500", "400", name="us1.png")
    assert code == 0
    _, b = run(pack, tmp_path, "--ultrasound", "--size", "500", "400", name="us2.png")
    assert a.read_bytes() == b.read_bytes()
    img = iio.imread(a)[..., :3].astype(int)
    assert img.shape[:2] == (400, 500)
    grey = (np.ptp(img, axis=-1) <= 2).mean()
    assert grey > 0.7  # the picture is mostly the greyscale image (labels and marks are coloured)


def test_ultrasound_bone_is_a_bright_line_with_a_dark_shadow_below():
    scene = analytic_scene()
    needle = Needle([0, 60, 0], [0, -1, 0], 40.0, 75.0)
    win = SliceWindow(-5.0, 120.0, 60.0)
    res = Slicer(scene).cross_sections(needle_plane(needle), win.extent_mm)
    h, w = 500, 480
    img = ultrasound_image(res, win, (h, w), needle_depth_mm=40.0, seed=3).astype(float)
    mm = (win.bottom - win.top) / h
    row = lambda d: int((d - win.top) / mm)  # noqa: E731
    col = lambda lat: int((win.half_width - lat) / (2 * win.half_width) * w)  # noqa: E731
    cols = slice(col(-10.0), col(-20.0))   # lateral -10..-20 mm: over the bone, away from the nerve and needle
    surface = img[row(74.0):row(77.0), cols].max(axis=0)
    assert surface.min() >= 180            # the bone's surface at depth 75 is bright in every column
    shadow = img[row(80.0):row(118.0), cols]
    tissue = img[row(50.0):row(70.0), cols]
    assert shadow.mean() < 15 and tissue.mean() > 3 * shadow.mean()
    # beside the bone (lateral 40 mm) there is no shadow at the same depth
    beside = img[row(80.0):row(118.0), col(40.0):col(35.0)]
    assert beside.mean() > 3 * shadow.mean()
    # the nerve (depth 55, lateral 2, radius 4): a bright rim around darker fascicles
    rim = img[row(50.5):row(51.5), col(3.0):col(1.0)].max()
    assert rim >= 150
    # the same seed gives the same image, another seed another speckle
    again = ultrasound_image(res, win, (h, w), needle_depth_mm=40.0, seed=3)
    other = ultrasound_image(res, win, (h, w), needle_depth_mm=40.0, seed=4)
    assert np.array_equal(again, img.astype(np.uint8)) and not np.array_equal(other, again)


def test_ultrasound_pleura_is_a_bright_line_with_nothing_useful_below():
    skin = structure("skin", "skin", box_mesh([-80, -60, -80], [80, 60, 80]))
    muscle = structure("trapezius", "muscle", box_mesh([-60, 30, -60], [60, 50, 60]))
    pleura = structure("pleura", "pleura", box_mesh([-70, -55, -70], [70, 25, 70]), margin=5.0)   # depth 35..
    scene = scene_of(skin, muscle, pleura)
    needle = Needle([0, 60, 0], [0, -1, 0], 20.0, 50.0)
    win = SliceWindow(-5.0, 110.0, 50.0)
    res = Slicer(scene).cross_sections(needle_plane(needle), win.extent_mm)
    h, w = 460, 400
    img = ultrasound_image(res, win, (h, w), needle_depth_mm=20.0, seed=0).astype(float)
    mm = (win.bottom - win.top) / h
    row = lambda d: int((d - win.top) / mm)  # noqa: E731
    cols = slice(20, 160)  # away from the needle
    assert img[row(34.5):row(36.5), cols].max(axis=0).min() >= 150   # the pleural line
    below = img[row(40.0):row(65.0), cols]                            # before the first A-line (70 mm)
    assert below.mean() < 0.5 * img[row(12.0):row(28.0), cols].mean()
    # the first reverberation (A-line) at twice the pleura's depth
    assert img[row(69.0):row(71.5), cols].max(axis=0).mean() > 2 * below.mean()


def test_picture_marks_the_safe_depth_or_unknown(tmp_path):
    scene = analytic_scene()
    needle = Needle([0, 60, 0], [0, -1, 0], 40.0, 75.0)

    class Path_:
        safe_depth_mm = None
        limiting_structure = None
        bone_stop_mm = None

    class Report:
        level = "unknown"
        path = Path_()
        structures: list = []
        needle = None

    from needlesafe.app import readout

    orig = readout.unknown_reasons
    readout.unknown_reasons = lambda r: ["test"]
    try:
        png = render_slice_png(scene, needle, report=Report(), size=(600, 500))
    finally:
        readout.unknown_reasons = orig
    img = iio.imread(png)
    assert img.shape[:2] == (500, 600)
    assert _has_colour(img, "#D55E00", tol=10, at_least=50)  # the UNKNOWN mark in the danger colour


def test_window_follows_the_needle_length():
    win = window_for(Needle([0, 0, 0], [0, 0, -1], 10.0, 60.0), aspect=1.5)
    assert win.top < 0 < 60.0 < win.bottom
    assert win.half_width == pytest.approx((win.bottom - win.top) * 0.75)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--entry", "0", "nan", "0"], "--entry must be three finite numbers"),
        (["--direction", "0", "0", "0"], "zero vector"),
        (["--direction", "0", "inf", "0"], "--direction must be three finite numbers"),
        (["--depth", "-1"], "--depth must be"),
        (["--depth", "80"], "depth must lie in"),
        (["--angle", "nan"], "--angle must be a finite number"),
        (["--size", "10", "4000"], "--size must be"),
        (["--gauge", "0"], "--gauge must be"),
    ],
)
def test_bad_input_is_a_clear_error(pack, tmp_path, capsys, args, message):
    base = {"--entry": ENTRY, "--direction": DIRECTION, "--depth": ["40"]}
    argv = ["slice", "--pack", pack, "--length", "75", "--out", str(tmp_path / "x.png")]
    given = {args[0]: args[1:]}
    for key, value in {**base, **given}.items():
        argv += [key, *value]
    if args[0] not in base:
        argv += args
        for key, value in base.items():
            if key not in argv:
                argv += [key, *value]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("needlesafe: error:") and message in err
    assert not (tmp_path / "x.png").exists()


def test_unwritable_or_wrong_output_is_refused_before_work(pack, tmp_path, capsys):
    (tmp_path / "afile").write_text("x")
    for out, message in ((tmp_path / "afile" / "s.png", "not a folder"), (tmp_path, "is a directory"),
                         (tmp_path / "s.jpg", "written as .png")):
        code = main(["slice", "--pack", pack, "--entry", *ENTRY, "--direction", *DIRECTION, "--depth", "40",
                     "--out", str(out)])
        assert code == 2
        assert message in capsys.readouterr().err


def test_unknown_pack_is_a_clear_error(tmp_path, capsys):
    code = main(["slice", "--pack", str(tmp_path / "nothing"), "--entry", *ENTRY, "--direction", *DIRECTION,
                 "--depth", "10", "--out", str(tmp_path / "s.png")])
    assert code == 2
    assert "needlesafe: error:" in capsys.readouterr().err


def test_slice_of_an_atlas_region(atlas_data, monkeypatch, tmp_path):
    """A real region: open meshes, many structures; the picture is written and holds the nerve colour."""
    monkeypatch.setenv("NEEDLESAFE_DATA", str(atlas_data))
    from needlesafe.meshes.resolve import load_pack

    scene = load_pack("atlas:gluteal:average")
    tp = next(t.point for t in scene.trigger_points if "piriformis" in t.name)
    skin = next(s for s in scene.structures if s.role == "skin")
    # enter from the back straight over the trigger point
    near = np.linalg.norm((skin.vertices - tp)[:, [0, 2]], axis=1) < 5
    k = np.flatnonzero(near & (skin.vertices[:, 1] > tp[1]))
    entry = skin.vertices[k[np.argmax(skin.vertices[k, 1])]]
    depth = min(float(np.linalg.norm(tp - entry)), 90.0)
    out = tmp_path / "atlas.png"
    code = main(["slice", "--pack", "atlas:gluteal:average", "--entry", *map(str, entry), "--direction", "0", "-1",
                 "0", "--depth", f"{depth:.2f}", "--length", "100", "--angle", "90", "--out", str(out)])
    assert code == 0
    img = iio.imread(out)
    assert img.shape[:2] == (700, 900)
    assert _has_colour(img, DEFAULT_COLOUR["muscle"], at_least=1000)
    assert _has_colour(img, DEFAULT_COLOUR["bone"], at_least=200)


def test_html_report_section_embeds_the_needle_plane_picture():
    import base64
    import re

    from needlesafe.app.report_html import section_for
    from needlesafe.geometry.clearance import ClearanceEngine

    engine = ClearanceEngine(analytic_scene())
    text = section_for(engine, "Needle", Needle([0, 60, 0], [0, -1, 0], 40.0, 75.0))
    found = re.search(r'<img alt="The plane through the needle[^"]*" src="data:image/png;base64,([^"]+)"', text)
    assert found
    img = iio.imread(base64.b64decode(found.group(1)))
    assert img.shape[:2] == (560, 760)
    assert _has_colour(img, DEFAULT_COLOUR["nerve"])


def test_slice_never_imports_qt(pack, tmp_path):
    """`needlesafe slice` runs without a display: no Qt binding and none of the window's modules
    (checked in a fresh interpreter)."""
    from .test_cli import run_fresh_listing_gui

    argv = ["slice", "--pack", pack, "--entry", *ENTRY, "--direction", *DIRECTION, "--depth", "40", "--length", "75",
            "--ultrasound", "--out", str(tmp_path / "s.png")]
    proc = run_fresh_listing_gui(f"from needlesafe.app.cli import main\nrc = main({argv!r})")
    assert proc.returncode == 0, proc.stderr
    assert "GUI []" in proc.stdout and "ultrasound look" in proc.stdout
