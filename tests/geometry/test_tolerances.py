"""Tolerances live in geometry/tolerances.py only: no small float literal elsewhere in the engine."""
import io
import tokenize
from pathlib import Path

import needlesafe.geometry as geometry
from needlesafe.geometry import tolerances


def test_no_scattered_tolerance_literals():
    found = []
    for path in sorted(Path(geometry.__file__).parent.glob("*.py")):
        if path.name == "tolerances.py":
            continue
        for tok in tokenize.generate_tokens(io.StringIO(path.read_text()).readline):
            if tok.type == tokenize.NUMBER and "e-" in tok.string.lower():
                found.append(f"{path.name}:{tok.start[0]}: {tok.string}")
    assert found == []


def test_values_are_the_engine_s_own():
    assert tolerances.ENTRY_TOL_MM == 1e-3 and tolerances.EPS == 1e-12
    assert tolerances.VOTE_OUTSIDE < tolerances.VOTE_INSIDE and tolerances.VOTE_DECISIVE == 20
