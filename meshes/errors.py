"""NeedleSafe's errors: one base for every unusable input, and cancellation.

`meshes` is the lowest layer, so `geometry` and `app` derive their errors from here:
`PackError` (meshes), `NeedleError` (geometry.needle), `ScenarioError` (app.scenario) and
`ExerciseError` (app.exercises) are all `NeedleSafeError`s, so one `except NeedleSafeError`
turns any of them into a message for the user.
"""
from __future__ import annotations


class NeedleSafeError(ValueError):
    """An input NeedleSafe cannot use (pack, needle, scenario, exercise ...); the message says why."""


class PackError(NeedleSafeError):
    """A pack, manifest or mesh file cannot be used; the message names the file and the problem."""


class Cancelled(NeedleSafeError):
    """A long computation (e.g. a safety map) was stopped by its caller; not a failure to report."""


class AtlasError(NeedleSafeError):
    """The atlas source files cannot be fetched or used: the message names each file that failed, why
    (HTTP status, connection, hash mismatch, missing), and how to fetch the files by hand.
    `failed` holds the names of those files."""

    def __init__(self, message: str, failed: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.failed = failed
