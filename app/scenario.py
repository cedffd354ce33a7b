"""Scenario files: the pack, its habitus, the needles and the camera, as validated JSON (no Qt here).

    {"format": "needlesafe-scenario", "version": 1, "pack": "shoulder:high",
     "needles": [{"entry_lps": [x, y, z], "direction": [dx, dy, dz], "depth_mm": 20,
                  "length_mm": 50, "gauge_mm": 0.3}],
     "camera": {"position": [x, y, z], "focal_point": [x, y, z], "view_up": [x, y, z]}}

Saving is atomic (temporary file + rename), so a failed save never damages the previous file.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from needlesafe.geometry.needle import Needle, NeedleError
from needlesafe.meshes.errors import NeedleSafeError
from needlesafe.meshes.io import atomic_write_text, read_json
from needlesafe.meshes.validate import finite_number, finite_point

FORMAT = "needlesafe-scenario"
MAX_BYTES = 5_000_000


class ScenarioError(NeedleSafeError):
    """A scenario file cannot be used; the message says why."""


@dataclass
class Scenario:
    pack: str
    needles: list = field(default_factory=list)
    camera: dict | None = None

    def to_dict(self) -> dict:
        return {
            "format": FORMAT,
            "version": 1,
            "pack": self.pack,
            "needles": [
                {k: v for k, v in n.to_dict().items() if k != "tip_lps"} for n in self.needles
            ],
            "camera": self.camera,
        }


def save_scenario(scenario: Scenario, path) -> Path:
    path = Path(path)
    atomic_write_text(path, json.dumps(scenario.to_dict(), indent=2, allow_nan=False) + "\n")
    return path


def _number(v, where):
    return finite_number(v, where, ScenarioError)


def _vec3(value, where):
    return finite_point(value, where, ScenarioError, "three numbers").tolist()


def load_scenario(path) -> Scenario:
    """Read and validate a scenario file; ScenarioError names the problem."""
    path = Path(path)
    data = read_json(path, MAX_BYTES, ScenarioError, "scenario")
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ScenarioError(f"{path}: not a NeedleSafe scenario (format must be '{FORMAT}')")
    version = data.get("version")
    if isinstance(version, bool) or version != 1:
        raise ScenarioError(f"{path}: unsupported scenario version {version!r} (this NeedleSafe reads version 1)")
    pack = data.get("pack")
    if not isinstance(pack, str) or not pack:
        raise ScenarioError(f"{path}: 'pack' must name a pack")
    needles = []
    raw = data.get("needles")
    if not isinstance(raw, list) or not raw:
        raise ScenarioError(f"{path}: 'needles' must be a non-empty list")
    for k, n in enumerate(raw):
        where = f"{path}: needles[{k}]"
        if not isinstance(n, dict):
            raise ScenarioError(f"{where}: expected an object")
        try:
            needles.append(
                Needle(
                    _vec3(n.get("entry_lps"), f"{where}.entry_lps"),
                    _vec3(n.get("direction"), f"{where}.direction"),
                    _number(n.get("depth_mm"), f"{where}.depth_mm"),
                    _number(n.get("length_mm", 50.0), f"{where}.length_mm"),
                    _number(n.get("gauge_mm", 0.30), f"{where}.gauge_mm"),
                )
            )
        except NeedleError as exc:
            raise ScenarioError(f"{where}: {exc}") from None
    camera = data.get("camera")
    if camera is not None:
        if not isinstance(camera, dict):
            raise ScenarioError(f"{path}: 'camera' must be an object")
        camera = {k: _vec3(camera.get(k), f"{path}: camera.{k}") for k in ("position", "focal_point", "view_up")}
    return Scenario(pack, needles, camera)
