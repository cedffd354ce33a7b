"""Atlas conversion: GLB reading (synthetic files, always run; hostile files -> PackError naming the
file), node transforms and winding, names, and the real atlas (skipped cleanly when
../shared/atlas-source is absent): decoding, frames, orientation, units, exclusions, cache."""
from __future__ import annotations

import json
import re
import shutil
import struct

import numpy as np
import pytest

from needlesafe.meshes.atlas import glb
from needlesafe.meshes.atlas.convert import (
    Atlas,
    AtlasPart,
    cache_key,
    is_brain,
    load_atlas,
    part_name,
    read_cache,
    snake,
    split_side,
    write_cache,
)
from needlesafe.meshes.atlas.sources import FILES, excluded
from needlesafe.meshes.errors import AtlasError, PackError

# --- synthetic GLB files ---------------------------------------------------------------------------

TRI = np.array([[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]], np.float32)


def make_glb(gltf: dict, binary: bytes | None = b"") -> bytes:
    """A GLB file: header, JSON chunk (space-padded), BIN chunk (zero-padded) when not None."""
    text = json.dumps(gltf).encode()
    text += b" " * (-len(text) % 4)
    out = struct.pack("<II", len(text), glb.CHUNK_JSON) + text
    if binary is not None:
        binary += b"\0" * (-len(binary) % 4)
        out += struct.pack("<II", len(binary), glb.CHUNK_BIN) + binary
    return struct.pack("<4sII", b"glTF", 2, 12 + len(out)) + out


def plain_triangle(nodes=None, count=3) -> tuple[dict, bytes]:
    """One triangle in plain accessors (POSITION float32, indices uint16) and its node(s)."""
    binary = TRI.tobytes() + np.array([0, 1, 2], np.uint16).tobytes()
    gltf = {
        "asset": {"version": "2.0"},
        "buffers": [{"byteLength": len(binary)}],
        "bufferViews": [{"buffer": 0, "byteOffset": 0, "byteLength": 36},
                        {"buffer": 0, "byteOffset": 36, "byteLength": 6}],
        "accessors": [{"bufferView": 0, "componentType": 5126, "count": count, "type": "VEC3"},
                      {"bufferView": 1, "componentType": 5123, "count": 3, "type": "SCALAR"}],
        "meshes": [{"name": "Triangle", "primitives": [{"attributes": {"POSITION": 0}, "indices": 1}]}],
        "nodes": nodes if nodes is not None else [{"name": "Tri_r", "mesh": 0}],
        "scenes": [{"nodes": [0]}],
        "scene": 0,
    }
    return gltf, binary


def draco_triangle() -> tuple[dict, bytes]:
    """One tetrahedron compressed with KHR_draco_mesh_compression (DracoPy.encode)."""
    import DracoPy

    points = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]], np.float32)
    faces = np.array([[0, 2, 1], [0, 1, 3], [0, 3, 2], [1, 2, 3]], np.uint32)
    data = DracoPy.encode(points, faces, quantization_bits=16)
    gltf = {
        "asset": {"version": "2.0"},
        "buffers": [{"byteLength": len(data)}],
        "bufferViews": [{"buffer": 0, "byteOffset": 0, "byteLength": len(data)}],
        "accessors": [{"componentType": 5126, "count": 4, "type": "VEC3"},
                      {"componentType": 5125, "count": 12, "type": "SCALAR"}],
        "meshes": [{"name": "Tetra", "primitives": [{
            "attributes": {"POSITION": 0}, "indices": 1,
            "extensions": {glb.DRACO: {"bufferView": 0, "attributes": {"POSITION": 0}}}}]}],
        "nodes": [{"name": "Tetra.l", "mesh": 0, "translation": [1, 2, 3]}],
        "scenes": [{"nodes": [0]}],
    }
    return gltf, data


def write(tmp_path, name: str, data: bytes):
    path = tmp_path / name
    path.write_bytes(data)
    return path


def normal(v: np.ndarray, f: np.ndarray) -> np.ndarray:
    a, b, c = v[f]
    n = np.cross(b - a, c - a)
    return n / np.linalg.norm(n)


def test_plain_accessors_read(tmp_path):
    gltf, binary = plain_triangle()
    [m] = glb.read_glb(write(tmp_path, "tri.glb", make_glb(gltf, binary)))
    assert (m.node, m.mesh, m.path) == ("Tri_r", "Triangle", ())
    np.testing.assert_array_equal(m.vertices, TRI)
    np.testing.assert_array_equal(m.faces, [[0, 1, 2]])
    assert m.faces.dtype == np.int32 and m.vertices.dtype == np.float64


def test_draco_decoded_and_placed(tmp_path):
    gltf, binary = draco_triangle()
    [m] = glb.read_glb(write(tmp_path, "tetra.glb", make_glb(gltf, binary)))
    assert m.faces.shape == (4, 3) and m.vertices.shape == (4, 3)
    np.testing.assert_allclose(m.vertices.min(axis=0), [1, 2, 3], atol=1e-4)
    np.testing.assert_allclose(m.vertices.max(axis=0), [2, 3, 4], atol=1e-4)


def test_hierarchy_trs_matrix_and_mirrored_winding(tmp_path):
    q90z = [0.0, 0.0, np.sin(np.pi / 4), np.cos(np.pi / 4)]  # 90 degrees about +z, [x, y, z, w]
    nodes = [
        {"name": "root", "translation": [10, 0, 0], "children": [1, 2]},
        {"name": "rotated", "rotation": q90z, "scale": [2, 2, 2], "mesh": 0},
        {"name": "mirror", "scale": [-1, -1, -1], "children": [3]},
        {"name": "moved", "matrix": [1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 5, 1], "mesh": 0},
    ]
    gltf, binary = plain_triangle(nodes)
    rotated, moved = glb.read_glb(write(tmp_path, "tree.glb", make_glb(gltf, binary)))
    # rotated: scale 2, then (x, y) -> (-y, x), then + (10, 0, 0); parents before children
    assert rotated.path == ("root",) and moved.path == ("root", "mirror")
    np.testing.assert_allclose(rotated.vertices, [[10, 0, 0], [10, 2, 0], [8, 0, 0]], atol=1e-12)
    # moved: + (0, 0, 5) (column-major matrix), then mirrored through the origin, then + (10, 0, 0)
    np.testing.assert_allclose(moved.vertices, [[10, 0, -5], [9, 0, -5], [10, -1, -5]], atol=1e-12)
    # winding: the mirrored copy keeps the outward normal the mirror maps it to (-(+z) = -z)
    np.testing.assert_allclose(normal(rotated.vertices, rotated.faces[0]), [0, 0, 1], atol=1e-12)
    np.testing.assert_allclose(normal(moved.vertices, moved.faces[0]), [0, 0, -1], atol=1e-12)


def test_keep_skips_before_decoding(tmp_path):
    gltf, binary = draco_triangle()
    gltf["bufferViews"][0]["byteLength"] = 10**9  # would fail if it were read
    path = write(tmp_path, "skip.glb", make_glb(gltf, binary))
    assert glb.read_glb(path, keep=lambda node, mesh, path: False) == []


def _bad_files():
    gltf, binary = plain_triangle()
    good = make_glb(gltf, binary)
    yield "truncated.glb", good[: len(good) // 2], "truncated"
    yield "header.glb", good[:7], "truncated header"
    yield "magic.glb", b"GLTF" + good[4:], "bad magic"
    yield "empty.glb", b"", "truncated header"
    version = bytearray(good)
    version[4:8] = struct.pack("<I", 1)
    yield "version.glb", bytes(version), "version 1"
    chunk = bytearray(good)
    chunk[12:16] = struct.pack("<I", 10**6)
    yield "chunk.glb", bytes(chunk), "beyond the end of the file"
    yield "garbage.glb", make_glb({}, None)[:12] + b"garbage", "truncated"
    text = b'{"asset": oops'
    text += b" " * (-len(text) % 4)
    body = struct.pack("<II", len(text), glb.CHUNK_JSON) + text
    yield "json.glb", struct.pack("<4sII", b"glTF", 2, 12 + len(body)) + body, "not valid JSON"
    yield "list.glb", make_glb([1, 2], b""), "not a glTF object"  # type: ignore[arg-type]
    bin_first = struct.pack("<II", 4, glb.CHUNK_BIN) + b"\0\0\0\0"
    yield "binfirst.glb", struct.pack("<4sII", b"glTF", 2, 12 + len(bin_first)) + bin_first, "not JSON"
    yield "nobin.glb", make_glb(gltf, None), "missing buffers"
    g = json.loads(json.dumps(gltf))
    g["buffers"] = []
    yield "nobuffers.glb", make_glb(g, binary), "buffers[0]"
    g = json.loads(json.dumps(gltf))
    g["accessors"][0]["count"] = 2**40  # hostile huge count: refused before any allocation
    yield "hugecount.glb", make_glb(g, binary), "count 1099511627776"
    g = json.loads(json.dumps(gltf))
    g["bufferViews"][0]["byteLength"] = 2**31
    yield "hugeview.glb", make_glb(g, binary), "beyond its buffer"
    g = json.loads(json.dumps(gltf))
    g["buffers"][0]["byteLength"] = 2**31
    yield "hugebuffer.glb", make_glb(g, binary), "exceeds the BIN chunk"
    g = json.loads(json.dumps(gltf))
    g["accessors"][0]["count"] = -3
    yield "negcount.glb", make_glb(g, binary), "not a non-negative integer"
    g = json.loads(json.dumps(gltf))
    g["nodes"] = [{"name": "a", "children": [1]}, {"name": "b", "children": [0], "mesh": 0}]
    yield "cycle.glb", make_glb(g, binary), "reached twice"
    g = json.loads(json.dumps(gltf))
    g["nodes"][0]["mesh"] = 7
    yield "nomesh.glb", make_glb(g, binary), "meshes[7] does not exist"
    g = json.loads(json.dumps(gltf))
    g["nodes"][0]["rotation"] = [0, 0, "x", 1]
    yield "rotation.glb", make_glb(g, binary), "rotation"
    g = json.loads(json.dumps(gltf))
    g["nodes"][0]["translation"] = [0, 0, float("nan")]
    yield "nan.glb", make_glb(g, binary), "finite"
    index_out = TRI.tobytes() + np.array([0, 1, 9], np.uint16).tobytes()
    yield "index.glb", make_glb(gltf, index_out), "outside its 3 vertices"
    dg, dbin = draco_triangle()
    yield "draco.glb", make_glb(dg, b"\x07" * len(dbin)), "Draco data cannot be decoded"
    dg2 = json.loads(json.dumps(dg))
    dg2["accessors"][0]["count"] = 10**9
    yield "dracocount.glb", make_glb(dg2, dbin), "POSITION accessor count"


@pytest.mark.parametrize(("name", "data", "problem"), list(_bad_files()), ids=lambda x: x if isinstance(x, str) else "")
def test_bad_glb_raises_pack_error_naming_file(tmp_path, name, data, problem):
    path = write(tmp_path, name, data)
    with pytest.raises(PackError) as err:
        glb.read_glb(path)
    assert str(err.value).startswith(f"{name}: ")
    assert problem in str(err.value)


def test_unreadable_file_is_pack_error(tmp_path):
    with pytest.raises(PackError, match="missing.glb: cannot be read"):
        glb.read_glb(tmp_path / "missing.glb")


# --- names -----------------------------------------------------------------------------------------

@pytest.mark.parametrize(("raw", "term", "side"), [
    ("Sciatic nerve.r", "Sciatic nerve", "r"),
    ("Gluteus_maximus_muscle_r", "Gluteus_maximus_muscle", "r"),
    ("First rib.l", "First rib", "l"),
    ("Sacrum", "Sacrum", ""),
    ("Vertebra L1", "Vertebra L1", ""),
    ("Hip bone.r.001", "Hip bone", "r"),
    ("Central canal'", "Central canal", ""),
    ("Femur.001", "Femur", ""),
])
def test_split_side(raw, term, side):
    assert split_side(raw) == (term, side)


def test_snake_and_part_name():
    assert snake("Accessory nerve (XI)") == "accessory_nerve_xi"
    assert snake("(Abdominal part of pectoralis major muscle)") == "abdominal_part_of_pectoralis_major_muscle"
    assert snake("Humero-ulnar head") == "humero_ulnar_head"
    assert part_name("Sciatic nerve", "r") == "sciatic_nerve_r"
    assert part_name("Vertebra T7", "") == "vertebra_t7"


def test_brain_terms_skip_brain_keep_spinal_cord_and_nerves():
    for term in ("Precentral gyrus", "Tonsil of cerebellum", "Thalamus", "Fourth ventricle", "Pons",
                 "Red nucleus", "Corpus callosum", "Lat_Fis-post", "Medulla oblongata"):
        assert is_brain(term), term
    for term in ("Spinal dura", "Anterior horn of spinal cord", "Intermediolateral nucleus",
                 "Nucleus of accessory nerve", "Roots of brachial plexus", "Sciatic nerve",
                 "Accessory nerve (XI)", "Cauda equina", "Spinal ganglion", "Central canal"):
        assert not is_brain(term), term


def _tiny_part(name, source, shift=0.0):
    v = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0]], float) + shift
    return AtlasPart(name, name, "", source, v, np.array([[0, 1, 2]], np.int32))


def test_get_names_and_duplicates():
    a = Atlas({"sciatic_nerve_r": _tiny_part("sciatic_nerve_r", "uoft-lower-limb.glb"),
               "femur_r": _tiny_part("femur_r", "zanatomy-skeletal.glb")},
              {"femur_r": [_tiny_part("femur_r", "uoft-lower-limb.glb", 1.0)]})
    assert a.names() == ["femur_r", "sciatic_nerve_r"]
    assert a.names("*_nerve_*") == ["sciatic_nerve_r"]
    assert a.get("femur_r").source == "zanatomy-skeletal.glb"
    assert a.get("femur_r", source="uoft-lower-limb.glb").vertices[0, 0] == 1.0
    with pytest.raises(KeyError, match="sciatic_nerve_r"):
        a.get("sciatic_nerve")
    with pytest.raises(KeyError, match="from zanatomy-nervous.glb"):
        a.get("femur_r", source="zanatomy-nervous.glb")


def test_missing_files_say_how_to_fetch(tmp_path):
    with pytest.raises(AtlasError, match="needlesafe atlas fetch") as err:
        load_atlas(tmp_path / "nothing", tmp_path / "cache")
    assert set(err.value.failed) == {f.name for f in FILES}


# --- the real atlas (skipped cleanly when ../shared/atlas-source is absent) -------------------------

def test_every_file_decodes(atlas_data):
    for f in FILES:
        meshes = glb.read_glb(atlas_data / f.name)
        gltf = glb.parse_glb(atlas_data / f.name).gltf
        n_nodes_with_mesh = sum(1 for n in gltf["nodes"] if "mesh" in n)
        assert len(meshes) == n_nodes_with_mesh, f.name
        for m in meshes:
            assert np.all(np.isfinite(m.vertices)), (f.name, m.node)
            assert m.faces.size == 0 or m.faces.max() < len(m.vertices), (f.name, m.node)
        total = sum(len(m.faces) for m in meshes)
        assert total > 100_000, f.name


def test_converted_counts_per_file(atlas):
    assert set(atlas.stats) == {f.name for f in FILES}
    for name, s in atlas.stats.items():
        assert s["parts"] > 30 and s["triangles"] > 100_000, (name, s)
    assert atlas.stats["zanatomy-nervous.glb"]["skipped_brain"] > 200
    assert atlas.stats["zanatomy-visceral.glb"]["skipped_excluded"] == 4  # kidneys, renal pelves


def _nn_max(a: np.ndarray, b: np.ndarray) -> float:
    from scipy.spatial import cKDTree

    return max(float(cKDTree(a).query(b)[0].max()), float(cKDTree(b).query(a)[0].max()))


@pytest.mark.parametrize("name", ["femur_r", "hip_bone_r", "clavicle_r", "humerus_r", "first_rib_r",
                                  "frontal_bone", "sacrum", "body_of_sternum", "scapula_r"])
def test_bones_from_two_files_coincide(atlas, name):
    part = atlas.get(name)
    assert part.source == "zanatomy-skeletal.glb"
    others = atlas.duplicates[name]
    assert others and all(o.source.startswith("uoft-") for o in others)
    for other in others:
        assert _nn_max(part.vertices, other.vertices) < 0.01, (name, other.source)


def test_orientation_lps(atlas):
    skull = atlas.get("frontal_bone").vertices
    sacrum = atlas.get("sacrum").vertices
    assert skull[:, 2].min() > sacrum[:, 2].max() + 400  # the skull far above the sacrum (+z superior)
    sternum_y = atlas.get("body_of_sternum").vertices[:, 1].mean()
    for v in ("vertebra_t4", "vertebra_t6", "vertebra_t8"):
        assert atlas.get(v).vertices[:, 1].min() > sternum_y + 50  # vertebrae posterior (+y)
    every = list(atlas.parts.values()) + [d for ds in atlas.duplicates.values() for d in ds]
    sided = [p for p in every if p.side]
    wrong_mean = []
    for p in sided:  # patient right = -x: no sided part lies wholly on the other side
        x = p.vertices[:, 0]
        assert (x.min() < 0) if p.side == "r" else (x.max() > 0), p.name
        if (x.mean() < 0) != (p.side == "r"):
            wrong_mean.append(p.name)
    # the few crossing the midline are the source's (the right vagus' thoracic branches)
    assert set(wrong_mean) <= {"vagus_nerve_x_r"}, wrong_mean
    assert atlas.get("lateral_temporomandibular_ligament_r").vertices[:, 0].max() < 0  # swapped in the source
    np.testing.assert_allclose(atlas.get("femur_l").vertices.mean(axis=0) * [-1, 1, 1],
                               atlas.get("femur_r").vertices.mean(axis=0), atol=1.0)


def test_units_mm(atlas):
    femur = atlas.get("femur_r").vertices
    assert 400 < np.ptp(femur[:, 2]) < 500
    head = atlas.get("frontal_bone").vertices[:, 2].max()
    assert 1600 < head < 1900  # one adult standing on the floor (z = 0)


def test_excluded_and_brain_parts_absent(atlas):
    every = list(atlas.parts.values()) + [d for ds in atlas.duplicates.values() for d in ds]
    for p in every:
        assert not excluded(p.term) and not excluded(p.name), p.name
        assert not is_brain(p.term) or p.source != "zanatomy-nervous.glb", p.name
    assert not atlas.names("*kidney*") and not atlas.names("*renal_pelvis*") and not atlas.names("*cochlea*")
    assert not atlas.names("*gyrus*") and not atlas.names("*cerebell*")


RECIPE_NAMES = (
    "gluteus_maximus_muscle_r", "gluteus_medius_muscle_r", "gluteus_minimus_muscle_r", "piriformis_muscle_r",
    "superior_gemellus_muscle_r", "quadratus_femoris_muscle_r", "sciatic_nerve_r", "sciatic_nerve_l",
    "superior_gluteal_nerve_r", "pudendal_nerve_r", "posterior_femoral_cutaneous_nerve_r", "tibial_nerve_r",
    "common_fibular_nerve_r", "femoral_nerve_r", "femoral_artery_r", "popliteal_artery_r", "radial_nerve_r",
    "pleura", "superior_lobe_of_right_lung", "inferior_lobe_of_left_lung", "rhomboid_major_muscle_r",
    "descending_part_of_trapezius_muscle_r", "levator_scapulae_r", "infraspinatus_muscle_r",
    "iliocostalis_thoracis_muscle_r", "quadratus_lumborum_muscle_r", "vertebra_c7", "vertebra_t1",
    "vertebra_l5", "atlas_c1", "axis_c2", "sacrum", "first_rib_r", "first_rib_l", "twelfth_rib_r",
    "roots_of_brachial_plexus_r", "superior_trunk_of_brachial_plexus_r", "posterior_cord_of_brachial_plexus_r",
    "accessory_nerve_xi_r", "spinal_dura", "scapula_r", "clavicle_l", "hip_bone_r", "femur_r", "humerus_r",
)


def test_names_stable_and_unique(atlas):
    for name in RECIPE_NAMES:
        assert name in atlas, name
    seen = set()
    for name, part in atlas.parts.items():
        assert name == part.name == part_name(part.term, part.side)
        assert re.fullmatch(r"[a-z0-9]+(_[a-z0-9]+)*", name), name
        assert part.side in ("r", "l", "")
        assert part.vertices.dtype == np.float64 and part.faces.dtype == np.int32
        assert part.faces.min() >= 0 and part.faces.max() < len(part.vertices)
        seen.add((name, part.source))
    for name, dups in atlas.duplicates.items():
        assert name in atlas.parts
        for d in dups:
            assert d.name == name and (name, d.source) not in seen
            seen.add((name, d.source))


def test_cache_round_trip_equals_fresh_conversion(atlas, atlas_data):
    assert atlas.folder is not None and atlas.folder.name == cache_key()
    cached = load_atlas(atlas_data, atlas.folder.parent)
    assert cached.folder == atlas.folder
    assert cached.names() == atlas.names() and set(cached.duplicates) == set(atlas.duplicates)
    assert cached.stats == atlas.stats
    pairs = [(atlas.parts[n], cached.parts[n]) for n in atlas.parts]
    pairs += [(a, b) for n in atlas.duplicates for a, b in zip(atlas.duplicates[n], cached.duplicates[n], strict=True)]
    for a, b in pairs:
        assert (a.name, a.term, a.side, a.source) == (b.name, b.term, b.side, b.source)
        np.testing.assert_array_equal(a.vertices, b.vertices)
        np.testing.assert_array_equal(a.faces, b.faces)
        assert not b.vertices.flags.writeable


@pytest.mark.parametrize("damage", ["index", "npz", "ranges"])
def test_damaged_cache_is_rebuilt(atlas, atlas_data, tmp_path, damage):
    folder = tmp_path / cache_key()
    write_cache(atlas, folder)
    if damage == "index":
        (folder / "index.json").write_text("{not json")
    elif damage == "npz":
        npz = folder / "zanatomy-skeletal.npz"
        npz.write_bytes(npz.read_bytes()[:1000])
    else:
        index = json.loads((folder / "index.json").read_text())
        index["parts"][0]["f"] = [0, 10**9]
        (folder / "index.json").write_text(json.dumps(index))
    with pytest.raises(PackError, match="atlas cache|outside its arrays"):
        read_cache(folder)
    if damage != "index":
        return  # one rebuild is enough to show it (conversion takes seconds)
    rebuilt = load_atlas(atlas_data, tmp_path)
    assert rebuilt.names() == atlas.names()
    assert read_cache(folder).names() == atlas.names()
    shutil.rmtree(folder)


def test_excluded_by_node_mesh_or_ancestor_never_converted(tmp_path):
    from needlesafe.meshes.atlas.convert import convert_file
    from needlesafe.meshes.atlas.sources import BY_NAME

    nodes = [
        {"name": "Kidney.l", "mesh": 0},  # excluded by its node name
        {"name": "Ureter.l", "mesh": 1},  # excluded by its mesh name ("Renal pelvis")
        {"name": "Cochlea.r", "children": [3]},  # no mesh, but its child is excluded with it
        {"name": "Spiral thing.r", "mesh": 0},
        {"name": "Urinary bladder", "mesh": 0, "translation": [0.001, 0, 0]},  # kept
    ]
    gltf, binary = plain_triangle(nodes)
    gltf["meshes"].append({"name": "Renal pelvis", "primitives": gltf["meshes"][0]["primitives"]})
    gltf["scenes"] = [{"nodes": [0, 1, 2, 4]}]
    path = write(tmp_path, "zanatomy-visceral.glb", make_glb(gltf, binary))
    parts, stats = convert_file(path, BY_NAME["zanatomy-visceral.glb"])
    assert [p.name for p in parts] == ["urinary_bladder"]
    assert stats["skipped_excluded"] == 3
    np.testing.assert_allclose(parts[0].vertices[1], [1001, 0, 0])  # metres -> mm, (x, y, z) -> (x, -z, y)


def test_truncated_real_file_names_it(atlas_source, tmp_path):
    data = (atlas_source / "zanatomy-skeletal.glb").read_bytes()
    path = write(tmp_path, "zanatomy-skeletal.glb", data[: len(data) - 1000])
    with pytest.raises(PackError, match=r"^zanatomy-skeletal\.glb: truncated"):
        glb.read_glb(path)


def test_changed_source_file_refused(atlas_source, tmp_path):
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    for f in FILES:
        (data_dir / f.name).symlink_to(atlas_source / f.name)
    target = data_dir / "uoft-trunk.glb"
    changed = bytearray((atlas_source / "uoft-trunk.glb").read_bytes())
    changed[-5] ^= 0xFF  # same size, other content
    target.unlink()
    target.write_bytes(bytes(changed))
    with pytest.raises(AtlasError, match=r"uoft-trunk\.glb: SHA-256") as err:
        load_atlas(data_dir, tmp_path / "cache")
    assert err.value.failed == ("uoft-trunk.glb",)
    target.write_bytes(bytes(changed[:-10]))
    with pytest.raises(AtlasError, match=r"uoft-trunk\.glb: .* bytes, expected"):
        load_atlas(data_dir, tmp_path / "cache")
