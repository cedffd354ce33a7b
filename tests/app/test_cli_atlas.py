"""`needlesafe atlas fetch` and `needlesafe atlas status`: download from a server on 127.0.0.1 serving
../shared/atlas-source, `--from DIR`, exit codes and the `needlesafe: error: atlas: ...` messages,
the licence and credit lines. Skipped cleanly when ../shared/atlas-source is absent (the tests that
need it)."""
from __future__ import annotations

import pytest

from needlesafe.app.cli import main
from needlesafe.meshes.atlas import fetch as fetch_module
from needlesafe.meshes.atlas.fetch import atlas_present
from needlesafe.meshes.atlas.sources import ATTRIBUTION, FILES
from tests.atlas_server import refused_url, serve_folder

CREDIT = ("CC BY-SA 4.0", *ATTRIBUTION, *{f.exporter for f in FILES})


@pytest.fixture(autouse=True)
def _no_retry_pause(monkeypatch):
    monkeypatch.setattr(fetch_module, "RETRY_WAIT_S", 0.0)


def test_fetch_from_mirror_then_status(atlas_source, tmp_path, capsys):
    dest = tmp_path / "atlas"
    with serve_folder(atlas_source) as url:
        assert main(["atlas", "fetch", "--mirror", url, "--dest", str(dest)]) == 0
        out = capsys.readouterr().out
        assert f"{len(FILES)} files verified (SHA-256) in {dest}: {len(FILES)} downloaded, 0 already present" in out
        assert all(c in out for c in CREDIT)
        assert atlas_present(dest)
        assert main(["atlas", "fetch", "--mirror", url, "--dest", str(dest)]) == 0
        assert f"0 downloaded, {len(FILES)} already present" in capsys.readouterr().out

    assert main(["atlas", "status", "--dest", str(dest)]) == 0
    out = capsys.readouterr().out
    for f in FILES:
        line = next(x for x in out.splitlines() if x.strip().startswith(f.name))
        assert "verified" in line and f"{f.size:,} bytes" in line
        assert f"source: {f.url}" in out
        assert f"fetched from: {url}/{f.name}" in out
    assert f"All {len(FILES)} files present and verified." in out
    assert all(c in out for c in CREDIT)


def test_status_of_an_empty_folder_from_needlesafe_data(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("NEEDLESAFE_DATA", str(tmp_path / "atlas"))
    assert main(["atlas", "status"]) == 0
    out = capsys.readouterr().out
    assert f"Atlas folder: {tmp_path / 'atlas'} ($NEEDLESAFE_DATA)" in out
    assert all(f"{f.name}" in out and f.url in out for f in FILES)
    assert out.count("missing") == len(FILES)
    assert f"0 of {len(FILES)} files present and verified: run `needlesafe atlas fetch`" in out
    assert all(c in out for c in CREDIT)


def test_fetch_from_folder_good(atlas_source, tmp_path, capsys):
    dest = tmp_path / "atlas"
    assert main(["atlas", "fetch", "--from", str(atlas_source), "--dest", str(dest)]) == 0
    assert f"{len(FILES)} copied" in capsys.readouterr().out
    assert atlas_present(dest)


def test_fetch_from_folder_bad_is_exit_1_naming_the_file(atlas_source, tmp_path, capsys):
    src = tmp_path / "src"
    src.mkdir()
    for f in FILES[1:]:
        (src / f.name).symlink_to(atlas_source / f.name)
    dest = tmp_path / "atlas"
    assert main(["atlas", "fetch", "--from", str(src), "--dest", str(dest)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("needlesafe: error: atlas: could not copy 1 of 8 atlas files")
    assert f"{FILES[0].name}: not found in {src}" in err and FILES[0].url in err
    assert not (dest / FILES[0].name).exists()
    assert all((dest / f.name).is_file() for f in FILES[1:])


def test_fetch_refused_is_exit_1_with_the_manual_route(tmp_path, capsys):
    assert main(["atlas", "fetch", "--mirror", refused_url(), "--dest", str(tmp_path / "atlas")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("needlesafe: error: atlas: could not download 8 of 8 atlas files")
    assert "refused" in err.lower() and "3 attempts" in err  # retried twice by default
    assert all(f.url in err for f in FILES) and "needlesafe atlas fetch --from DIR" in err


def test_usage_errors_are_exit_2(tmp_path, capsys):
    for argv in (["atlas"], ["atlas", "fetch", "--from", "a", "--mirror", "http://x"], ["atlas", "nope"]):
        with pytest.raises(SystemExit) as done:
            main(argv)
        assert done.value.code == 2
        assert "needlesafe: error: atlas" in capsys.readouterr().err
    assert main(["atlas", "fetch", "--mirror", "ftp://example.org", "--dest", str(tmp_path)]) == 1
    assert "needlesafe: error: atlas: --mirror 'ftp://example.org'" in capsys.readouterr().err


def test_atlas_commands_load_no_qt(tmp_path):
    from .test_cli import run_fresh_listing_gui

    proc = run_fresh_listing_gui(f"from needlesafe.app.cli import main\nrc = main(['atlas', 'status', '--dest', "
                                 f"{str(tmp_path)!r}])")
    assert proc.returncode == 0, proc.stderr
    assert "GUI []" in proc.stdout
    assert "All" not in proc.stdout and "missing" in proc.stdout
