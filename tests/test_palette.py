"""The course's categorical colours stay apart for colour-blind readers, measured.

Each colour of PALETTE is simulated as seen with protanopia, deuteranopia
and tritanopia (Machado et al. 2009, severity 1.0: a complete dichromacy,
the hardest case), then every pair is compared with CIEDE2000.

The floor, 10: a CIEDE2000 difference of about 1 is the smallest a trained
eye sees between large patches side by side (Sharma et al. 2005); small
marks need several times more (Szafir 2018, "Modeling Color Difference for
Visualization Design", IEEE TVCG 24(1)), and the course draws markers of a
few points.  10 is what the best published colour-blind-safe schemes reach
for their closest pair (Okabe & Ito: 11.1, Tol's muted: 11.6, measured
the same way), and far above the 0.7 of the palette this one replaced.
"""

from __future__ import annotations

import pytest

from evtlib.viz import PALETTE
from evtlib.viz.colorblind import VISIONS, delta_e, min_distance, simulate, to_lab

FLOOR = 10.0

#: The palette used before (Tableau 10): its green and red look alike with deuteranopia.
OLD_PALETTE = (
    "#4E79A7",
    "#F28E2B",
    "#59A14F",
    "#B07AA1",
    "#76B7B2",
    "#EDC948",
    "#9C755F",
    "#FF9DA7",
    "#E15759",
    "#BAB0AC",
)
OKABE_ITO = ("#000000", "#E69F00", "#56B4E9", "#009E73", "#F0E442", "#0072B2", "#D55E00", "#CC79A7")


@pytest.mark.parametrize(
    ("lab1", "lab2", "expected"),
    [  # Sharma, Wu and Dalal (2005), Table 1: pairs 1, 7, 17, 24, 31, 34
        ((50.0, 2.6772, -79.7751), (50.0, 0.0, -82.7485), 2.0425),
        ((50.0, 0.0, 0.0), (50.0, -1.0, 2.0), 2.3669),
        ((50.0, 2.5, 0.0), (73.0, 25.0, -18.0), 27.1492),
        ((50.0, 2.5, 0.0), (50.0, 3.1736, 0.5854), 1.0),
        ((90.8027, -2.0831, 1.441), (91.1528, -1.6435, 0.0447), 1.4441),
        ((2.0776, 0.0795, -1.135), (0.9033, -0.0636, -0.5514), 0.9082),
    ],
)
def test_ciede2000_matches_the_published_test_data(lab1, lab2, expected):
    """The implementation gives Sharma et al.'s values to 4 decimals."""
    assert delta_e(lab1, lab2) == pytest.approx(expected, abs=1e-4)
    assert delta_e(lab2, lab1) == pytest.approx(expected, abs=1e-4)


def test_simulation_keeps_greys_and_white_and_merges_red_with_green():
    """Machado's rows sum to 1 (greys unchanged); a dichromat's red and green come close."""
    for vision in VISIONS:
        assert simulate("#FFFFFF", vision) == "#FFFFFF"
        grey = to_lab(simulate("#777777", vision))
        assert delta_e(grey, to_lab("#777777")) < 0.5
    red, green = "#E15759", "#59A14F"
    normal = delta_e(to_lab(red), to_lab(green))
    deutan = delta_e(to_lab(simulate(red, "deuteranopia")), to_lab(simulate(green, "deuteranopia")))
    assert normal > 50 and deutan < 1.0  # 0.7: the measurement, reproduced


def test_the_old_palette_fails_the_floor_and_okabe_ito_passes_it():
    """The floor separates the palette that was replaced from a published safe one."""
    assert min_distance(OLD_PALETTE, "deuteranopia")[0] < 1.0
    assert min_distance(OLD_PALETTE, "protanopia")[0] < 1.5
    assert all(min_distance(OKABE_ITO, v)[0] > FLOOR for v in VISIONS)


@pytest.mark.parametrize("vision", VISIONS)
def test_every_pair_of_palette_colours_stays_apart(vision):
    """The closest two colours of PALETTE, as this reader sees them, are at least FLOOR apart."""
    distance, a, b = min_distance(PALETTE, vision)
    assert distance >= FLOOR, f"{vision}: {a} and {b} are only {distance:.1f} apart"


def test_the_measured_distances_are_the_documented_ones():
    """The numbers in evtlib/viz/style.py's comment are the measured ones."""
    measured = {v: round(min_distance(PALETTE, v)[0], 1) for v in VISIONS}
    assert measured == {
        "normal": 15.0,
        "protanopia": 11.8,
        "deuteranopia": 14.0,
        "tritanopia": 11.6,
    }


def test_bad_colours_are_refused_with_the_rule():
    with pytest.raises(ValueError, match="color must be '#RRGGBB', got 'red'"):
        simulate("red", "protanopia")
    with pytest.raises(ValueError, match="vision must be one of"):
        simulate("#FF0000", "monochromacy")
    with pytest.raises(ValueError, match="at least two colours"):
        min_distance(["#FF0000"])
