"""The atlas download path, for real: a server on 127.0.0.1 serving ../shared/atlas-source (or an
altered copy of it), pooch downloading, SHA-256 verification, atomic placement, cancel, `--from`.
Skipped cleanly when ../shared/atlas-source is absent."""
from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import pytest

from needlesafe.meshes.atlas import fetch as fetch_module
from needlesafe.meshes.atlas.fetch import STAMP_NAME, atlas_dir, atlas_present, fetch, status
from needlesafe.meshes.atlas.sources import FILES, TOTAL_BYTES
from needlesafe.meshes.errors import AtlasError, Cancelled, NeedleSafeError
from tests.atlas_server import refused_url, serve_folder

NAMES = {f.name for f in FILES}
VICTIM = "uoft-trunk.glb"  # the file a test breaks


@pytest.fixture(autouse=True)
def _no_retry_pause(monkeypatch):
    monkeypatch.setattr(fetch_module, "RETRY_WAIT_S", 0.0)


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def leftovers(folder: Path) -> list[str]:
    """Everything in `folder` but the atlas files and the verification stamp (temporary files)."""
    return sorted(p.name for p in folder.iterdir() if p.name not in NAMES and p.name != STAMP_NAME)


def mirror_of(source: Path, folder: Path, *, drop=(), alter=()) -> Path:
    """A folder serving the atlas files (symlinks to `source`), minus `drop`, with `alter` truncated."""
    folder.mkdir()
    for f in FILES:
        if f.name in drop:
            continue
        if f.name in alter:
            data = bytearray((source / f.name).read_bytes()[: f.size // 2])
            data[100] ^= 0xFF
            (folder / f.name).write_bytes(bytes(data))
        else:
            (folder / f.name).symlink_to(source / f.name)
    return folder


def assert_all_verified(folder: Path) -> None:
    for f in FILES:
        assert sha(folder / f.name) == f.sha256, f.name
    assert atlas_present(folder)


# --- the good path ------------------------------------------------------------------------------

def test_atlas_data_fixture_holds_all_eight_verified(atlas_data):
    assert_all_verified(atlas_data)
    rows = status(atlas_data)
    assert [s.name for s in rows] == [f.name for f in FILES]
    for s, f in zip(rows, FILES, strict=True):
        assert s.present and s.ok and s.size == f.size == s.expected_size
        assert s.url == f.url and s.exporter == f.exporter
        assert s.fetched_from == f.url_from(s.fetched_from.rsplit("/", 1)[0])
        assert s.fetched_from.startswith("http://127.0.0.1:")
    assert leftovers(atlas_data) == []


def test_download_reports_progress_to_the_total_and_files_are_readable(atlas_source, tmp_path):
    calls = []
    with serve_folder(atlas_source) as url:
        paths = fetch(tmp_path / "atlas", mirror=url, progress=lambda *a: calls.append(a), retries=0)
    assert [p.name for p in paths] == [f.name for f in FILES]
    assert_all_verified(tmp_path / "atlas")
    done = [d for d, _, _ in calls]
    assert done == sorted(done) and done[-1] == TOTAL_BYTES
    assert {t for _, t, _ in calls} == {TOTAL_BYTES}
    assert {n for _, _, n in calls} == NAMES
    assert all(p.stat().st_mode & 0o777 == 0o644 for p in paths)


def test_refetch_downloads_only_what_is_missing_or_wrong(atlas_source, atlas_data, tmp_path):
    dest = tmp_path / "atlas"
    shutil.copytree(atlas_data, dest)
    (dest / VICTIM).write_bytes(b"not a glb")  # wrong file under the final name
    (dest / "zanatomy-joints.glb").unlink()
    requested: list[str] = []
    with serve_folder(atlas_source, requested) as url:
        fetch(dest, mirror=url, retries=0)
    assert sorted(requested) == sorted([VICTIM, "zanatomy-joints.glb"])
    assert_all_verified(dest)
    # everything present: no connection is made at all (the server is gone)
    calls = []
    fetch(dest, mirror=refused_url(), retries=0, progress=lambda *a: calls.append(a))
    assert calls and calls[-1][0] == TOTAL_BYTES


def test_pinned_urls_are_used_without_a_mirror(monkeypatch, atlas_data, tmp_path):
    """Without `mirror` each file comes from its own pinned URL (no network here: all present)."""
    seen = []
    monkeypatch.setattr(fetch_module, "_download", lambda dest, todo, mirror, *a: seen.append((todo, mirror)) or [])
    dest = tmp_path / "atlas"
    shutil.copytree(atlas_data, dest)
    (dest / VICTIM).unlink()
    fetch(dest)
    assert [f.name for f in seen[0][0]] == [VICTIM] and seen[0][1] is None


# --- failures -----------------------------------------------------------------------------------

def test_corrupted_file_is_a_hash_error_naming_it_and_is_not_kept(atlas_source, tmp_path):
    served = mirror_of(atlas_source, tmp_path / "served", alter=[VICTIM])
    bad = sha(served / VICTIM)
    dest = tmp_path / "atlas"
    with serve_folder(served) as url, pytest.raises(AtlasError) as err:
        fetch(dest, mirror=url, retries=1)
    msg = str(err.value)
    victim = next(f for f in FILES if f.name == VICTIM)
    assert err.value.failed == (VICTIM,)
    assert f"{VICTIM}: SHA-256 mismatch: expected {victim.sha256}, got {bad}" in msg
    assert "2 attempts" in msg and f"{url}/{VICTIM}" in msg
    assert victim.url in msg and "needlesafe atlas fetch --from DIR" in msg  # the manual route
    assert not (dest / VICTIM).exists()
    assert leftovers(dest) == []
    for f in FILES:
        if f.name != VICTIM:
            assert sha(dest / f.name) == f.sha256  # the others are kept
    assert not atlas_present(dest)
    assert [s.name for s in status(dest) if not s.present] == [VICTIM]


def test_404_names_the_file_and_keeps_the_others(atlas_source, tmp_path):
    served = mirror_of(atlas_source, tmp_path / "served", drop=[VICTIM])
    dest = tmp_path / "atlas"
    requested: list[str] = []
    with serve_folder(served, requested) as url, pytest.raises(AtlasError) as err:
        fetch(dest, mirror=url, retries=2)
    msg = str(err.value)
    assert f"{VICTIM}: HTTP 404" in msg and f"{url}/{VICTIM}" in msg
    assert requested.count(VICTIM) == 1  # a 404 is not retried
    assert "needlesafe atlas fetch --from DIR" in msg
    assert not (dest / VICTIM).exists() and leftovers(dest) == []
    assert sum(s.ok for s in status(dest)) == len(FILES) - 1


def test_refused_connection_says_so_and_how_to_fetch_by_hand(tmp_path):
    dest = tmp_path / "atlas"
    with pytest.raises(AtlasError) as err:
        fetch(dest, mirror=refused_url(), retries=1)
    msg = str(err.value)
    assert isinstance(err.value, NeedleSafeError)
    first = FILES[0]
    assert f"{first.name}: cannot connect:" in msg and "refused" in msg.lower() and "2 attempts" in msg
    assert "not tried: the server could not be reached" in msg
    assert set(err.value.failed) == NAMES
    for f in FILES:
        assert f.url in msg  # every pinned URL, for the manual route
    assert "needlesafe atlas fetch --from DIR" in msg
    assert sorted(p.name for p in dest.iterdir()) == []


def test_cancel_half_way_leaves_no_partial_file(atlas_source, tmp_path):
    dest = tmp_path / "atlas"
    calls = []
    with serve_folder(atlas_source) as url, pytest.raises(Cancelled):
        fetch(dest, mirror=url, progress=lambda *a: calls.append(a), cancel=lambda: bool(calls), retries=2)
    assert len(calls) == 1 and 0 < calls[0][0] < FILES[0].size
    assert sorted(p.name for p in dest.iterdir() if p.name != STAMP_NAME) == []


def test_cancel_in_the_second_file_keeps_the_first(atlas_source, tmp_path):
    dest = tmp_path / "atlas"
    second = FILES[1].name
    calls = []
    with serve_folder(atlas_source) as url, pytest.raises(Cancelled):
        fetch(dest, mirror=url, progress=lambda *a: calls.append(a),
              cancel=lambda: any(n == second for _, _, n in calls))
    assert sha(dest / FILES[0].name) == FILES[0].sha256
    assert sorted(p.name for p in dest.iterdir() if p.name != STAMP_NAME) == [FILES[0].name]
    assert [s.ok for s in status(dest)][:2] == [True, False]


# --- from a local folder ------------------------------------------------------------------------

def test_from_folder_copies_and_verifies(atlas_source, tmp_path):
    dest = tmp_path / "atlas"
    fetch(dest, source_dir=atlas_source)
    assert_all_verified(dest)
    assert leftovers(dest) == []
    assert {s.fetched_from for s in status(dest)} == {str((atlas_source / f.name).resolve()) for f in FILES}


def test_from_folder_missing_and_wrong_files_are_named(atlas_source, tmp_path):
    src = mirror_of(atlas_source, tmp_path / "src", drop=["zanatomy-joints.glb"], alter=[VICTIM])
    bad = sha(src / VICTIM)
    dest = tmp_path / "atlas"
    with pytest.raises(AtlasError) as err:
        fetch(dest, source_dir=src)
    msg = str(err.value)
    victim = next(f for f in FILES if f.name == VICTIM)
    assert f"zanatomy-joints.glb: not found in {src}" in msg
    assert f"expected {victim.sha256}, got {bad}" in msg and VICTIM in msg
    assert set(err.value.failed) == {VICTIM, "zanatomy-joints.glb"}
    assert not (dest / VICTIM).exists() and not (dest / "zanatomy-joints.glb").exists()
    assert leftovers(dest) == []
    assert sum(s.ok for s in status(dest)) == len(FILES) - 2


def test_from_folder_cancel_removes_the_partial_copy(atlas_source, tmp_path):
    dest = tmp_path / "atlas"
    calls = []
    with pytest.raises(Cancelled):
        fetch(dest, source_dir=atlas_source, progress=lambda *a: calls.append(a), cancel=lambda: bool(calls))
    assert sorted(p.name for p in dest.iterdir() if p.name != STAMP_NAME) == []


def test_bad_arguments_are_atlas_errors(atlas_source, tmp_path):
    with pytest.raises(AtlasError, match="not both"):
        fetch(tmp_path / "a", source_dir=atlas_source, mirror="http://127.0.0.1:1")
    with pytest.raises(AtlasError, match="not a folder"):
        fetch(tmp_path / "a", source_dir=tmp_path / "nowhere")
    with pytest.raises(AtlasError, match="http"):
        fetch(tmp_path / "a", mirror="ftp://example.org")
    (tmp_path / "file").write_text("x")
    with pytest.raises(AtlasError, match="cannot create the atlas folder"):
        fetch(tmp_path / "file" / "atlas", source_dir=atlas_source)


# --- status and the verification cache ----------------------------------------------------------

def test_status_of_an_empty_and_of_a_damaged_folder(atlas_data, tmp_path):
    assert not any(s.present or s.ok for s in status(tmp_path / "nowhere"))
    assert not atlas_present(tmp_path / "nowhere")
    dest = tmp_path / "atlas"
    shutil.copytree(atlas_data, dest)
    data = bytearray((dest / VICTIM).read_bytes())
    data[-1] ^= 1  # same size, other bytes
    (dest / VICTIM).write_bytes(bytes(data))
    row = next(s for s in status(dest) if s.name == VICTIM)
    assert row.present and not row.ok and row.size == row.expected_size
    assert not atlas_present(dest)


def test_verification_is_cached_by_size_and_mtime(atlas_data, tmp_path, monkeypatch):
    dest = tmp_path / "atlas"
    shutil.copytree(atlas_data, dest)
    (dest / STAMP_NAME).write_text("{not json")  # a damaged cache is ignored, then rewritten
    assert atlas_present(dest)
    stamps = json.loads((dest / STAMP_NAME).read_text())
    assert set(stamps) == NAMES
    hashed = []
    real = fetch_module._sha256
    monkeypatch.setattr(fetch_module, "_sha256", lambda p: hashed.append(p.name) or real(p))
    assert atlas_present(dest) and hashed == []  # cached: nothing hashed
    st = (dest / VICTIM).stat()
    os.utime(dest / VICTIM, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    assert atlas_present(dest) and hashed == [VICTIM]  # touched: hashed again, once
    assert atlas_present(dest) and hashed == [VICTIM]


def test_atlas_dir_is_needlesafe_data_else_xdg(monkeypatch, tmp_path):
    monkeypatch.setenv("NEEDLESAFE_DATA", str(tmp_path / "mine"))
    assert atlas_dir() == tmp_path / "mine"
    monkeypatch.setenv("NEEDLESAFE_DATA", "")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert atlas_dir() == tmp_path / "xdg" / "needlesafe" / "atlas"
    monkeypatch.delenv("XDG_DATA_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert atlas_dir() == tmp_path / "home" / ".local" / "share" / "needlesafe" / "atlas"


def test_leftovers_of_a_killed_download_are_removed(atlas_source, tmp_path):
    dest = tmp_path / "atlas"
    dest.mkdir()
    old = dest / "tmpab3_x9qz"  # pooch's temporary download file
    old.write_bytes(b"partial")
    os.utime(old, (1_000_000_000, 1_000_000_000))
    young = dest / "tmpzz3_x9qy"  # maybe a live download of another process
    young.write_bytes(b"partial")
    fetch(dest, source_dir=atlas_source)
    assert not old.exists() and young.exists()
