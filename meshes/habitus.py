"""Body habitus: the parameters that move the skin (and so every depth) of a generated region."""
from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Habitus:
    """Subcutaneous fat thickness (mm) over the buttock and over the neck and upper back.

    Anchors: buttock subcutaneous fat 15.4 mm mean (95 % CI 14.7-16.2) in 388 adults, about 4 mm
    more per 10 kg/m2 of BMI and 5 mm more in women (Gibney et al. 2010, Curr Med Res Opin
    26:1519); dorsogluteal skin-to-muscle depth exceeded 25 mm in 72 and 35 mm in 43 of 100 adults
    on CT (Nisbet 2006, BMJ 332:637). Neck and upper-back fat is thinner; the skin-to-pleura depth
    at GB21 grows from about 4.0 cm (BMI < 18.5) to 7.1 cm (BMI >= 25) (Chou et al. 2015, BMJ Open
    5:e007819).
    """

    name: str
    gluteal_fat_mm: float
    neck_fat_mm: float
    description: str = ""

    def to_dict(self) -> dict:
        return asdict(self)


PRESETS = {
    "lean": Habitus("lean", 9.0, 4.0, "BMI about 19: thin fat layer"),
    "average": Habitus("average", 16.0, 8.0, "BMI about 23-25: buttock fat near the 15 mm population mean"),
    "high": Habitus("high", 32.0, 16.0, "BMI 30 or more: thick fat layer"),
}
DEFAULT = "average"


def habitus(name: str) -> Habitus:
    try:
        return PRESETS[name]
    except KeyError:
        raise KeyError(f"unknown habitus '{name}' (presets: {', '.join(PRESETS)})") from None
