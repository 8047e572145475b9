"""How colours look to readers with colour-vision deficiency, and how far apart they are.

Two small pieces of colour science, enough to check a palette:

* :func:`simulate` shows a colour as a reader with protanopia, deuteranopia
  or tritanopia sees it, with the matrices of Machado, Oliveira and
  Fernandes (2009), "A Physiologically-based Model for Simulation of Color
  Vision Deficiency", IEEE TVCG 15(6), at severity 1.0, applied to linear
  sRGB.
* :func:`delta_e` is CIEDE2000, the CIE's colour difference, as written out
  by Sharma, Wu and Dalal (2005), "The CIEDE2000 Color-Difference Formula:
  Implementation Notes, Supplementary Test Data, and Mathematical
  Observations", Color Research & Application 30(1).  About 1 is the
  smallest difference a trained eye sees side by side.

:func:`min_distance` is the smallest difference between any two colours of a
palette as a given reader sees them; the tests keep the course's palette
above a floor for every reader.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

__all__ = ["MACHADO", "VISIONS", "simulate", "to_lab", "delta_e", "min_distance"]

#: Machado et al. (2009), severity 1.0: linear RGB -> linear RGB as the reader sees it.
MACHADO: dict[str, tuple[tuple[float, float, float], ...]] = {
    "protanopia": (
        (0.152286, 1.052583, -0.204868),
        (0.114503, 0.786281, 0.099216),
        (-0.003882, -0.048116, 1.051998),
    ),
    "deuteranopia": (
        (0.367322, 0.860646, -0.227968),
        (0.280085, 0.672501, 0.047413),
        (-0.011820, 0.042940, 0.968881),
    ),
    "tritanopia": (
        (1.255528, -0.076749, -0.178779),
        (-0.078411, 0.930809, 0.147602),
        (0.004733, 0.691367, 0.303900),
    ),
}

#: The readers checked: normal vision and the three dichromacies.
VISIONS = ("normal", *MACHADO)


def _rgb(color: str) -> tuple[float, float, float]:
    text = color.lstrip("#")
    if len(text) != 6:
        raise ValueError(f"color must be '#RRGGBB', got {color!r}")
    r, g, b = (int(text[i : i + 2], 16) / 255 for i in (0, 2, 4))
    return r, g, b


def _linear(c: float) -> float:
    return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4


def _gamma(c: float) -> float:
    c = min(max(c, 0.0), 1.0)
    return 12.92 * c if c <= 0.0031308 else 1.055 * c ** (1 / 2.4) - 0.055


def simulate(color: str, vision: str) -> str:
    """``color`` ('#RRGGBB') as a reader with ``vision`` sees it, as '#RRGGBB'."""
    if vision not in VISIONS:
        raise ValueError(f"vision must be one of {VISIONS}, got {vision!r}")
    if vision == "normal":
        return color.upper()
    lin = [_linear(c) for c in _rgb(color)]
    seen = [sum(m * c for m, c in zip(row, lin, strict=True)) for row in MACHADO[vision]]
    return "#" + "".join(f"{round(_gamma(c) * 255):02X}" for c in seen)


def to_lab(color: str) -> tuple[float, float, float]:
    """CIELAB (D65) of an sRGB colour '#RRGGBB'."""
    r, g, b = (_linear(c) for c in _rgb(color))
    x = 0.4124564 * r + 0.3575761 * g + 0.1804375 * b
    y = 0.2126729 * r + 0.7151522 * g + 0.0721750 * b
    z = 0.0193339 * r + 0.1191920 * g + 0.9503041 * b

    def f(t: float) -> float:
        return t ** (1 / 3) if t > (6 / 29) ** 3 else t / (3 * (6 / 29) ** 2) + 4 / 29

    fx, fy, fz = f(x / 0.95047), f(y / 1.0), f(z / 1.08883)
    return 116 * fy - 16, 500 * (fx - fy), 200 * (fy - fz)


def delta_e(lab1: Sequence[float], lab2: Sequence[float]) -> float:
    """CIEDE2000 difference between two CIELAB colours (kL = kC = kH = 1)."""
    L1, a1, b1 = lab1
    L2, a2, b2 = lab2
    C1, C2 = math.hypot(a1, b1), math.hypot(a2, b2)
    Cbar7 = ((C1 + C2) / 2) ** 7
    G = 0.5 * (1 - math.sqrt(Cbar7 / (Cbar7 + 25**7)))
    a1p, a2p = (1 + G) * a1, (1 + G) * a2
    C1p, C2p = math.hypot(a1p, b1), math.hypot(a2p, b2)
    h1p = math.degrees(math.atan2(b1, a1p)) % 360 if C1p else 0.0
    h2p = math.degrees(math.atan2(b2, a2p)) % 360 if C2p else 0.0
    dLp = L2 - L1
    dCp = C2p - C1p
    if C1p * C2p == 0:
        dhp = 0.0
    elif abs(h2p - h1p) <= 180:
        dhp = h2p - h1p
    elif h2p - h1p > 180:
        dhp = h2p - h1p - 360
    else:
        dhp = h2p - h1p + 360
    dHp = 2 * math.sqrt(C1p * C2p) * math.sin(math.radians(dhp / 2))
    Lbp = (L1 + L2) / 2
    Cbp = (C1p + C2p) / 2
    if C1p * C2p == 0:
        hbp = h1p + h2p
    elif abs(h1p - h2p) <= 180:
        hbp = (h1p + h2p) / 2
    elif h1p + h2p < 360:
        hbp = (h1p + h2p + 360) / 2
    else:
        hbp = (h1p + h2p - 360) / 2
    T = (
        1
        - 0.17 * math.cos(math.radians(hbp - 30))
        + 0.24 * math.cos(math.radians(2 * hbp))
        + 0.32 * math.cos(math.radians(3 * hbp + 6))
        - 0.20 * math.cos(math.radians(4 * hbp - 63))
    )
    d_theta = 30 * math.exp(-(((hbp - 275) / 25) ** 2))
    Rc = 2 * math.sqrt(Cbp**7 / (Cbp**7 + 25**7))
    Sl = 1 + 0.015 * (Lbp - 50) ** 2 / math.sqrt(20 + (Lbp - 50) ** 2)
    Sc = 1 + 0.045 * Cbp
    Sh = 1 + 0.015 * Cbp * T
    Rt = -math.sin(math.radians(2 * d_theta)) * Rc
    return math.sqrt(
        (dLp / Sl) ** 2 + (dCp / Sc) ** 2 + (dHp / Sh) ** 2 + Rt * (dCp / Sc) * (dHp / Sh)
    )


def min_distance(colors: Sequence[str], vision: str = "normal") -> tuple[float, str, str]:
    """The closest pair of ``colors`` as a reader with ``vision`` sees them: (ΔE00, c1, c2)."""
    if len(colors) < 2:
        raise ValueError(f"colors must hold at least two colours, got {list(colors)!r}")
    labs = [to_lab(simulate(c, vision)) for c in colors]
    best = (math.inf, "", "")
    for i in range(len(colors)):
        for j in range(i + 1, len(colors)):
            d = delta_e(labs[i], labs[j])
            if d < best[0]:
                best = (d, colors[i], colors[j])
    return best
