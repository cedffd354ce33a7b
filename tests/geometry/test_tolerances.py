"""Tolerances live in geometry/tolerances.py only: no small float literal elsewhere in the engine."""
import io
import tokenize
from pathlib import Path

import needlesafe.geometry as geometry
from needlesafe.geometry import tolerances

#: A literal below this in the engine (outside tolerances.py) is a scattered tolerance.
SMALL = 0.01


def test_no_scattered_tolerance_literals():
    found = []
    for path in sorted(Path(geometry.__file__).parent.glob("*.py")):
        if path.name == "tolerances.py":
            continue
        for tok in tokenize.generate_tokens(io.StringIO(path.read_text()).readline):
            if tok.type != tokenize.NUMBER:
                continue
            try:
                value = float(tok.string.replace("_", ""))
            except ValueError:  # an integer in hex/octal/binary, or imaginary
                continue
            # 1e-9 and 0.000000001 alike: anything this small is a tolerance
            if "e-" in tok.string.lower() or 0.0 < value < SMALL:
                found.append(f"{path.name}:{tok.start[0]}: {tok.string}")
    assert found == []


def test_values_are_the_engine_s_own():
    assert tolerances.ENTRY_TOL_MM == 1e-3 and tolerances.EPS == 1e-12
    assert tolerances.VOTE_OUTSIDE < tolerances.VOTE_INSIDE and tolerances.VOTE_DECISIVE == 20
