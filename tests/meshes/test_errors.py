"""One error base: every unusable input is a NeedleSafeError (and still a ValueError); Cancelled is not an OSError."""
import pytest

from needlesafe.app.exercises import ExerciseError
from needlesafe.app.scenario import ScenarioError
from needlesafe.geometry.needle import Needle, NeedleError
from needlesafe.meshes.errors import Cancelled, NeedleSafeError, PackError
from needlesafe.meshes.types import PackError as TypesPackError


@pytest.mark.parametrize("cls", [PackError, NeedleError, ScenarioError, ExerciseError, Cancelled])
def test_every_error_is_a_needlesafe_error(cls):
    assert issubclass(cls, NeedleSafeError) and issubclass(cls, ValueError)
    assert not issubclass(cls, OSError)


def test_pack_error_still_importable_from_types():
    assert TypesPackError is PackError


def test_a_bad_needle_is_caught_as_needlesafe_error():
    with pytest.raises(NeedleSafeError, match=r"."):
        Needle(entry_lps=[0, 0, float("nan")], direction=[0, 0, 1], depth_mm=10)
