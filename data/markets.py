"""The default world's markets: sizes, growth, ad prices and Meta AI launch dates.

Sizes are daily active users in millions per app, of the order public sources give for each
country; `price` is ad revenue per minute relative to the US. Launch weeks follow the public
history in tests/fixtures/meta_ai_public_facts.md where it names a market (US beta 2023-09,
English-speaking markets 2024-04, India 2024-06, Europe 2025-03); the other launch weeks are
assumptions of this simulation, and seven markets never launch (the never-treated controls).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np

from data.countries import ISO_3166_ALPHA2
from data.regions import REGION_OF

APPS: tuple[str, ...] = ("facebook", "instagram", "whatsapp")


@dataclass(frozen=True)
class Market:
    code: str
    dau_millions: dict[str, float]
    dau_growth: float          # annual growth of log DAU
    price: float               # ad revenue per minute, US = 1
    southern: bool             # southern hemisphere: seasons flipped
    launch: date | None        # first week of Meta AI availability, None = never
    wave: str


# code  facebook instagram whatsapp  growth  price  south  launch      wave
_TABLE = """
US   190  140   75   0.005  1.00   n  2023-09-25  us-beta-2023-09
CA    24   18   12   0.008  0.85   n  2024-04-15  english-2024-04
AU    16   13    8   0.008  0.85   y  2024-04-15  english-2024-04
SG   3.5    3    4   0.010  0.55   n  2024-04-15  english-2024-04
NG    45   12   45   0.070  0.03   n  2024-04-15  english-2024-04
GH     8    3   10   0.060  0.03   n  2024-04-15  english-2024-04
ZA    22    7   28   0.030  0.10   y  2024-04-15  english-2024-04
KE    12    4   20   0.060  0.03   y  2024-04-15  english-2024-04
IN   330  320  480   0.070  0.025  n  2024-06-24  india-2024-06
MX    85   40   85   0.030  0.12   n  2024-07-22  latam-sea-2024-07
AR    25   25   35   0.015  0.07   y  2024-07-22  latam-sea-2024-07
CO    30   18   35   0.030  0.08   n  2024-07-22  latam-sea-2024-07
PH    80   20   10   0.040  0.04   n  2024-07-22  latam-sea-2024-07
PK    45   15   50   0.060  0.02   n  2024-09-02  south-asia-2024-09
BR   110  110  140   0.020  0.12   y  2024-10-07  brazil-2024-10
GB    38   28   35   0.003  0.75   n  2025-03-24  europe-2025-03
DE    25   25   50  -0.002  0.60   n  2025-03-24  europe-2025-03
FR    32   25   30   0.000  0.55   n  2025-03-24  europe-2025-03
IT    28   25   38  -0.003  0.40   n  2025-03-24  europe-2025-03
ES    22   22   33   0.002  0.40   n  2025-03-24  europe-2025-03
PL    17   10    8   0.005  0.20   n  2025-03-24  europe-2025-03
NL     9    8   12   0.000  0.60   n  2025-03-24  europe-2025-03
SE     5    5    3   0.000  0.65   n  2025-03-24  europe-2025-03
SA    15   16   25   0.030  0.25   n  2025-05-05  gulf-2025-05
ID   120   85   90   0.040  0.04   n  2025-06-02  indonesia-2025-06
JP    12   40    2   0.010  0.60   n  -           never
KR     8   18    1   0.005  0.50   n  -           never
VN    65   12    5   0.030  0.04   n  -           never
TH    45   18    3   0.020  0.06   n  -           never
EG    45   12   30   0.040  0.03   n  -           never
TR    38   50   55   0.020  0.08   n  -           never
BD    45    6   12   0.060  0.02   n  -           never
"""


def _parse(table: str) -> tuple[Market, ...]:
    markets = []
    for line in table.strip().splitlines():
        code, fb, ig, wa, growth, price, south, launch, wave = line.split()
        markets.append(Market(
            code=code,
            dau_millions=dict(zip(APPS, (float(fb), float(ig), float(wa)))),
            dau_growth=float(growth),
            price=float(price),
            southern=south == "y",
            launch=None if launch == "-" else date.fromisoformat(launch),
            wave=wave,
        ))
    return tuple(markets)


MARKETS: tuple[Market, ...] = _parse(_TABLE)

# The US beta (2023-09-25) reached a small share before the broad launch of 2024-04-15.
US_BETA_SHARE = 0.12
US_BROAD_LAUNCH = date(2024, 4, 15)


@dataclass(frozen=True)
class Withdrawal:
    """A partial withdrawal: the share falls to `factor` x its level, then (maybe) comes back."""

    app: str
    markets: tuple[str, ...]
    start: date
    factor: float
    end: date | None
    reason: str


WITHDRAWALS: tuple[Withdrawal, ...] = (
    Withdrawal("instagram", ("DE", "FR", "ES"), date(2025, 9, 15), 0.55, date(2026, 2, 2),
               "AI features removed from the iOS app, later restored"),
    Withdrawal("whatsapp", ("BR",), date(2026, 3, 2), 0.6, None,
               "AI features withdrawn from part of the user base"),
)


# Markets beyond the named ones (`world_markets`): smaller countries, sizes drawn around these
# medians (DAU millions per app), a launch in one of the named waves or none.
ADDED_DAU_MEDIAN = {"facebook": 2.0, "instagram": 1.2, "whatsapp": 1.5}
ADDED_NEVER_SHARE = 0.2
SOUTHERN_REGIONS = ("Oceania",)
SOUTHERN_CODES = frozenset("AR BO BR BW CL LS MG MU MW MZ NA PE PY SZ UY ZA ZM ZW".split())


def world_markets(count: int, seed: int = 0) -> tuple[Market, ...]:
    """The named markets and `count - len(MARKETS)` more, up to every assigned country code.

    The added ones are the unused ISO codes in alphabetical order, each with DAU drawn
    log-normally around ADDED_DAU_MEDIAN (the apps' sizes correlated, as a country's are), growth
    of 0..6% a year, an ad price of a few cents per US dollar, the hemisphere of its region, and
    the launch week of a random named wave, or never (one in five, so the never-treated controls
    grow with the panel). The same `count` and `seed` give the same markets.
    """
    if not len(MARKETS) <= count <= len(ISO_3166_ALPHA2):
        raise ValueError(f"markets must be between {len(MARKETS)} (the named ones) and {len(ISO_3166_ALPHA2)} "
                         f"(every assigned country code), not {count}")
    rng = np.random.default_rng(seed)
    named = {m.code for m in MARKETS}
    waves = sorted({(m.launch, m.wave) for m in MARKETS if m.launch is not None and m.launch >= US_BROAD_LAUNCH})
    added = []
    for code in sorted(ISO_3166_ALPHA2 - named)[:count - len(MARKETS)]:
        size = rng.normal(0.0, 1.0)
        dau = {app: round(float(median * np.exp(1.2 * size + 0.4 * rng.normal())), 3)
               for app, median in ADDED_DAU_MEDIAN.items()}
        launch, wave = (None, "never") if rng.random() < ADDED_NEVER_SHARE else waves[rng.integers(len(waves))]
        added.append(Market(code=code, dau_millions=dau, dau_growth=round(float(rng.uniform(0.0, 0.06)), 4),
                            price=round(float(np.exp(rng.normal(np.log(0.05), 0.6))), 4),
                            southern=REGION_OF.get(code) in SOUTHERN_REGIONS or code in SOUTHERN_CODES,
                            launch=launch, wave=wave))
    return MARKETS + tuple(added)
