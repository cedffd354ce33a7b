"""Bring the eight atlas source files to the user's machine, verified, and say what is there.

- `fetch` downloads them with pooch (a hash-pinned registry, one pinned URL per file, or the same
  names under a `mirror` base URL) into `atlas_dir` (``$NEEDLESAFE_DATA``, default
  ``~/.local/share/needlesafe/atlas``), or copies them from a local folder (`source_dir`). Every
  file is checked against its SHA-256 before it gets its final name: a download goes to a temporary
  file in the same folder and is moved into place only when its hash matches (pooch), a copy the same
  way (temporary file, then `os.replace`). A failed, corrupt or cancelled transfer leaves no file
  under the final name and keeps the files already verified. Files present with the right hash are
  not fetched again.
- `status` lists each file (present, verified, size, source URL, exporter); `atlas_present` says
  whether all eight are there and verified.

Verification is cached: a small JSON file (`STAMP_NAME`) beside the files records, for each file
verified, its size, modification time and SHA-256; a file whose size and time still match is not
hashed again. A file changed in any way is hashed again.

No Qt here: the GUI passes `progress(done_bytes, total_bytes, file_name)` and `cancel()` callables
and runs `fetch` in a worker thread; on a terminal a tqdm bar is drawn on stderr.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import AtlasError, Cancelled
from ..io import STALE_TMP_SECONDS, TMP_PREFIX, atomic_write_text, remove_stale_temporaries
from ..paths import atlas_dir
from .sources import FILES, TOTAL_BYTES, AtlasFile

__all__ = ["STAMP_NAME", "FileStatus", "atlas_dir", "atlas_present", "fetch", "manual_route", "status"]

#: File beside the atlas files caching which of them were verified (name -> size, mtime, SHA-256).
STAMP_NAME = ".verified.json"
#: Bytes read per chunk (download and copy); progress and cancellation are checked once per chunk.
CHUNK_BYTES = 64 * 1024
#: Seconds to wait for the server to connect or send the next bytes.
DEFAULT_TIMEOUT_S = 30.0
#: Pause before retry n (1, 2 ...) is n times this many seconds.
RETRY_WAIT_S = 0.5

ProgressCallback = Callable[[int, int, str], None]
CancelCheck = Callable[[], bool]


@dataclass(frozen=True)
class FileStatus:
    """One atlas file as found in the atlas folder."""

    name: str
    path: Path
    present: bool  #: a file of this name exists
    ok: bool  #: its size and SHA-256 are the pinned ones
    size: int | None  #: bytes on disk (None when absent)
    expected_size: int
    url: str  #: the public URL it is downloaded from (pinned by commit)
    exporter: str
    fetched_from: str | None  #: where this copy came from (URL or folder), when recorded


# --- verification cache -------------------------------------------------------------------------

def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _load_stamps(dest: Path) -> dict[str, dict[str, Any]]:
    try:
        data = json.loads((dest / STAMP_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict):
        return {}
    return {k: v for k, v in data.items() if isinstance(v, dict)}


def _save_stamps(dest: Path, stamps: dict[str, dict[str, Any]]) -> None:
    try:
        atomic_write_text(dest / STAMP_NAME, json.dumps(stamps, indent=1, sort_keys=True) + "\n")
    except OSError:  # a read-only folder: verification is simply not cached
        pass


def _stamp(path: Path, f: AtlasFile, source: str | None) -> dict[str, Any]:
    st = path.stat()
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "sha256": f.sha256, "from": source}


def _verified(path: Path, f: AtlasFile, stamps: dict[str, dict[str, Any]]) -> bool:
    """True when `path` holds `f` (size, then the cached or a fresh SHA-256); updates `stamps`."""
    try:
        st = path.stat()
    except OSError:
        stamps.pop(f.name, None)
        return False
    if not path.is_file() or st.st_size != f.size:
        stamps.pop(f.name, None)
        return False
    s = stamps.get(f.name)
    if s and s.get("size") == st.st_size and s.get("mtime_ns") == st.st_mtime_ns and s.get("sha256") == f.sha256:
        return True
    try:
        good = _sha256(path) == f.sha256
    except OSError:
        good = False
    if good:
        stamps[f.name] = {**_stamp(path, f, None), "from": (s or {}).get("from")}
    else:
        stamps.pop(f.name, None)
    return good


def status(dest: str | os.PathLike[str] | None = None) -> list[FileStatus]:
    """Each of the eight files in `dest` (default `atlas_dir()`): present, verified, size, origin."""
    folder = Path(dest) if dest is not None else atlas_dir()
    stamps = _load_stamps(folder)
    before = json.dumps(stamps, sort_keys=True)
    out = []
    for f in FILES:
        path = folder / f.name
        ok = _verified(path, f, stamps)
        try:
            size: int | None = path.stat().st_size if path.is_file() else None
        except OSError:
            size = None
        origin = stamps.get(f.name, {}).get("from") if ok else None
        out.append(FileStatus(f.name, path, path.exists(), ok, size, f.size, f.url, f.exporter,
                              origin if isinstance(origin, str) else None))
    if folder.is_dir() and json.dumps(stamps, sort_keys=True) != before:
        _save_stamps(folder, stamps)
    return out


def atlas_present(dest: str | os.PathLike[str] | None = None) -> bool:
    """True when all eight files are in `dest` (default `atlas_dir()`) with their pinned SHA-256.
    Cheap once verified: a file whose size and modification time match the cache is not hashed."""
    return all(s.ok for s in status(dest))


# --- progress and cancellation ------------------------------------------------------------------

class _Meter:
    """Progress over all eight files, and the cancel check, behind pooch's progress-bar protocol
    (`total`, `update`, `reset`, `close`): pooch calls `update` once per chunk, then `reset`,
    `update(total)` and `close` when a file is complete. Reports `callback(done, TOTAL_BYTES, name)`
    (files already present count as done) or draws a tqdm bar; raises `Cancelled` when `cancel()`
    answers True (pooch then deletes the temporary file)."""

    def __init__(self, callback: ProgressCallback | None, cancel: CancelCheck | None, bar: bool) -> None:
        self.callback = callback
        self.cancel = cancel
        self.want_bar = bar
        self.bar: Any = None
        self.total = 0  # set by pooch to the Content-Length; the pinned size is used instead
        self.before = 0  # bytes of the files done (present, downloaded or given up)
        self.current: AtlasFile | None = None
        self.now = 0  # bytes of the current file
        self.drawn = 0.0  # time.monotonic() of the last redraw of the bar

    def check(self) -> None:
        if self.cancel is not None and self.cancel():
            raise Cancelled("atlas download cancelled; the files already verified are kept")

    def _report(self, name: str) -> None:
        done = min(self.before + self.now, TOTAL_BYTES)
        if self.callback is not None:
            self.callback(done, TOTAL_BYTES, name)
        if self.bar is not None:
            self.bar.n = done
            self.bar.set_postfix_str(name, refresh=False)
            now = time.monotonic()
            if now - self.drawn >= 0.1 or done == TOTAL_BYTES:  # at most 10 redraws a second
                self.bar.refresh()
                self.drawn = now

    def skip(self, f: AtlasFile) -> None:
        self.before += f.size
        self._report(f.name)

    def start(self, f: AtlasFile) -> None:
        if self.want_bar and self.bar is None:
            from tqdm import tqdm

            self.bar = tqdm(total=TOTAL_BYTES, initial=self.before, unit="B", unit_scale=True, unit_divisor=1024,
                            desc="atlas", file=sys.stderr, ncols=100, leave=True)
        self.current, self.now = f, 0
        self.check()

    def update(self, n: int) -> None:
        if self.current is not None:
            self.now = min(self.current.size, self.now + int(n))
            self._report(self.current.name)
        self.check()

    def reset(self) -> None:
        self.now = 0

    def close(self) -> None:
        """Pooch's end of one file (the bar stays for the next one)."""

    def done(self, f: AtlasFile) -> None:
        self.before += f.size
        self.current, self.now = None, 0
        self._report(f.name)

    def finish(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


# --- error messages -----------------------------------------------------------------------------

def manual_route(dest: Path, names: tuple[str, ...] | None = None) -> str:
    """How to fetch the files by hand: their URLs and the ``--from`` route."""
    files = [f for f in FILES if names is None or f.name in names]
    lines = [f"To fetch by hand, download these files into {dest} (keep the names; each is checked by SHA-256):"]
    lines += [f"  {f.url}  ->  {f.name}" for f in files]
    lines.append("or copy them into a folder DIR and run: needlesafe atlas fetch --from DIR")
    return "\n".join(lines)


def _failure_message(dest: Path, failures: list[tuple[str, str]], verb: str) -> AtlasError:
    names = tuple(n for n, _ in failures)
    lines = [f"could not {verb} {len(failures)} of {len(FILES)} atlas files into {dest}:"]
    lines += [f"  {name}: {why}" for name, why in failures]
    lines.append(manual_route(dest, names))
    return AtlasError("\n".join(lines), names)


def _mismatch(f: AtlasFile, digest: str, size: int) -> str:
    return (f"SHA-256 mismatch: expected {f.sha256}, got {digest} "
            f"({size:,} bytes, expected {f.size:,}); the file was not kept")


_ERRNO = re.compile(r"\[Errno -?\d+\][^'\")]*")


def _connection_reason(exc: BaseException) -> str:
    text = str(exc)
    m = _ERRNO.search(text)
    if m:
        return "cannot connect: " + m.group(0).strip()
    return "cannot connect: " + (text if len(text) < 200 else text[:200] + "...")


# --- copying from a folder ----------------------------------------------------------------------

def _copy_one(src: Path, dest: Path, f: AtlasFile, meter: _Meter) -> str | None:
    """Copy `src` to ``dest / f.name`` through a temporary file, checking the SHA-256 as it goes.
    Returns None when placed, else why not (the temporary file is removed)."""
    if not src.is_file():
        return f"not found in {src.parent}" if not src.exists() else f"{src}: not a file"
    fd, tmp = tempfile.mkstemp(prefix=f"{TMP_PREFIX}{f.name}.", suffix=".tmp", dir=dest)
    try:
        h = hashlib.sha256()
        size = 0
        with os.fdopen(fd, "wb") as out, open(src, "rb") as fh:
            for chunk in iter(lambda: fh.read(CHUNK_BYTES), b""):
                out.write(chunk)
                h.update(chunk)
                size += len(chunk)
                meter.update(len(chunk))
            out.flush()
            os.fsync(out.fileno())
        if h.hexdigest() != f.sha256:
            os.unlink(tmp)
            return f"{src}: " + _mismatch(f, h.hexdigest(), size)
        os.chmod(tmp, 0o644)
        os.replace(tmp, dest / f.name)
        return None
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


# --- downloading --------------------------------------------------------------------------------

class _Download:
    """pooch's HTTPDownloader, also noting the SHA-256 and size of what arrived (for the message
    when it does not match: pooch deletes the temporary file)."""

    def __init__(self, meter: _Meter, timeout: float) -> None:
        import pooch

        self.http = pooch.HTTPDownloader(progressbar=meter, chunk_size=CHUNK_BYTES, timeout=timeout)
        self.digest = ""
        self.size = 0

    def __call__(self, url: str, output_file: str, pooch_: Any) -> None:
        self.digest, self.size = "", 0
        self.http(url, output_file, pooch_)
        self.digest = _sha256(Path(output_file))
        self.size = os.path.getsize(output_file)


def _download(dest: Path, todo: list[AtlasFile], mirror: str | None, meter: _Meter, retries: int,
              timeout: float, stamps: dict[str, dict[str, Any]]) -> list[tuple[str, str]]:
    import pooch
    import requests

    urls = {f.name: f.url_from(mirror) if mirror else f.url for f in FILES}
    registry = pooch.create(
        path=dest, base_url=(mirror.rstrip("/") + "/") if mirror else "https://raw.githubusercontent.com/",
        registry={f.name: "sha256:" + f.sha256 for f in FILES}, urls=urls, retry_if_failed=0,
    )
    download = _Download(meter, timeout)
    failures: list[tuple[str, str]] = []
    unreachable = False
    logger = pooch.get_logger()
    level = logger.level
    logger.setLevel(logging.WARNING)  # no "Downloading file ..." lines: the bar or the caller reports
    try:
        for f in todo:
            url = urls[f.name]
            if unreachable:
                failures.append((f.name, "not tried: the server could not be reached"))
                continue
            for attempt in range(retries + 1):
                meter.start(f)
                permanent = False
                try:
                    registry.fetch(f.name, downloader=download)
                    os.chmod(dest / f.name, 0o644)  # pooch's temporary file was private (0600)
                    stamps[f.name] = _stamp(dest / f.name, f, url)
                    why = ""
                except Cancelled:
                    raise
                except requests.HTTPError as exc:
                    code = exc.response.status_code if exc.response is not None else 0
                    reason = exc.response.reason if exc.response is not None else ""
                    why = f"HTTP {code} {reason}".rstrip()
                    permanent = 400 <= code < 500 and code not in (408, 429)
                except requests.Timeout:
                    why = f"no answer within {timeout:g} s"
                except requests.ConnectionError as exc:
                    why = _connection_reason(exc)
                except requests.RequestException as exc:
                    why = f"download failed: {exc}"
                except ValueError as exc:  # pooch: the hash of what arrived does not match
                    why = _mismatch(f, download.digest, download.size) if download.digest else str(exc)
                except OSError as exc:
                    why = f"cannot write into {dest}: {exc.strerror or exc}"
                    permanent = True
                if not why:
                    break
                if permanent or attempt == retries:
                    tries = f", {attempt + 1} attempts" if attempt else ""
                    failures.append((f.name, f"{why} ({url}{tries})"))
                    unreachable = why.startswith(("cannot connect", "no answer"))
                    break
                time.sleep(RETRY_WAIT_S * (attempt + 1))
            meter.done(f)
    finally:
        logger.setLevel(level)
    return failures


def _remove_stale(folder: Path) -> None:
    """Remove what killed transfers left in the atlas folder (a minute old or more): our copies'
    TMP_PREFIX files and pooch's ``tmpXXXXXXXX`` download files (the folder is the atlas's own)."""
    remove_stale_temporaries(folder)
    now = time.time()
    for p in folder.glob("tmp*"):
        try:
            if _POOCH_TMP.fullmatch(p.name) and p.is_file() and now - p.stat().st_mtime > STALE_TMP_SECONDS:
                p.unlink()
        except OSError:
            pass


_POOCH_TMP = re.compile(r"tmp[a-z0-9_]{8}")


# --- the entry point ----------------------------------------------------------------------------

def fetch(
    dest: str | os.PathLike[str] | None = None,
    *,
    source_dir: str | os.PathLike[str] | None = None,
    mirror: str | None = None,
    progress: ProgressCallback | None = None,
    cancel: CancelCheck | None = None,
    retries: int = 2,
    timeout: float = DEFAULT_TIMEOUT_S,
) -> list[Path]:
    """Put the eight atlas files, verified, into `dest` (default `atlas_dir()`); return their paths.

    Downloads from each file's pinned URL, or ``mirror + "/" + name`` when `mirror` is given, or
    copies from the folder `source_dir`. Files already present with the right hash are kept as they
    are. Each download is tried `retries` more times after a connection error, a timeout, a server
    error or a hash mismatch (not after a 4xx answer); once the server cannot be reached the other
    files are not tried. `progress(done_bytes, total_bytes, file_name)` is called per chunk (without
    it, a bar is drawn when stderr is a terminal); `cancel()` answering True stops the transfer at the
    next chunk with `Cancelled`, removing the partial file.

    Raises `AtlasError` naming every file that failed, why, and how to fetch the files by hand.
    """
    folder = Path(dest) if dest is not None else atlas_dir()
    if source_dir is not None and mirror is not None:
        raise AtlasError("give a folder to copy from or a mirror to download from, not both")
    if mirror is not None and not re.match(r"^https?://[^/\s]+", mirror):
        raise AtlasError(f"--mirror {mirror!r}: give an http:// or https:// base URL")
    if retries < 0:
        raise AtlasError(f"retries must be 0 or more, got {retries}")
    src = Path(source_dir) if source_dir is not None else None
    if src is not None and not src.is_dir():
        raise AtlasError(f"--from {src}: not a folder (it should hold the eight .glb files)")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise AtlasError(f"{folder}: cannot create the atlas folder: {exc.strerror or exc}") from None
    if not folder.is_dir():
        raise AtlasError(f"{folder}: not a folder")
    _remove_stale(folder)
    stamps = _load_stamps(folder)
    loaded = json.dumps(stamps, sort_keys=True)
    meter = _Meter(progress, cancel, bar=progress is None and sys.stderr.isatty())
    todo = []
    for f in FILES:
        if _verified(folder / f.name, f, stamps):
            meter.skip(f)
        else:
            todo.append(f)
    failures: list[tuple[str, str]] = []
    try:
        if src is not None:
            for f in todo:
                meter.start(f)
                try:
                    why = _copy_one(src / f.name, folder, f, meter)
                except OSError as exc:
                    why = f"cannot copy {src / f.name} into {folder}: {exc.strerror or exc}"
                if why is None:
                    stamps[f.name] = _stamp(folder / f.name, f, str((src / f.name).resolve()))
                else:
                    failures.append((f.name, why))
                meter.done(f)
        elif todo:
            failures = _download(folder, todo, mirror, meter, retries, timeout, stamps)
    finally:
        meter.finish()
        if json.dumps(stamps, sort_keys=True) != loaded:
            _save_stamps(folder, stamps)
    if failures:
        raise _failure_message(folder, failures, "copy" if src is not None else "download")
    return [folder / f.name for f in FILES]
