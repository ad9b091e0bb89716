"""World regions of the ISO 3166-1 alpha-2 codes (UN M49 regions, with the Americas split into
Latin America and the Caribbean and Northern America, as M49 does), so a planner can pick "Europe"
instead of typing its markets. Every code of `data.countries.ISO_3166_ALPHA2` is in exactly one region."""

from __future__ import annotations

REGIONS: dict[str, tuple[str, ...]] = {
    "Africa": tuple("""
        AO BF BI BJ BW CD CF CG CI CM CV DJ DZ EG EH ER ET GA GH GM GN GQ GW IO KE KM LR LS LY MA MG ML
        MR MU MW MZ NA NE NG RE RW SC SD SH SL SN SO SS ST SZ TD TF TG TN TZ UG YT ZA ZM ZW
    """.split()),
    "Asia": tuple("""
        AE AF AM AZ BD BH BN BT CC CN CX CY GE HK ID IL IN IQ IR JO JP KG KH KP KR KW KZ LA LB LK MM MN
        MO MV MY NP OM PH PK PS QA SA SG SY TH TJ TL TM TR TW UZ VN YE
    """.split()),
    "Europe": tuple("""
        AD AL AT AX BA BE BG BY CH CZ DE DK EE ES FI FO FR GB GG GI GR HR HU IE IM IS IT JE LI LT LU LV
        MC MD ME MK MT NL NO PL PT RO RS RU SE SI SJ SK SM UA VA
    """.split()),
    "Latin America and the Caribbean": tuple("""
        AG AI AR AW BB BL BO BQ BR BS BZ CL CO CR CU CW DM DO EC FK GD GF GP GT GY HN HT JM KN KY LC MF
        MQ MS MX NI PA PE PR PY SR SV SX TC TT UY VC VE VG VI
    """.split()),
    "Northern America": tuple("""
        BM CA GL PM US
    """.split()),
    "Oceania": tuple("""
        AS AU CK FJ FM GU KI MH MP NC NF NR NU NZ PF PG PN PW SB TK TO TV UM VU WF WS
    """.split()),
    "Antarctica": tuple("""
        AQ BV GS HM
    """.split()),
}

REGION_OF: dict[str, str] = {code: region for region, codes in REGIONS.items() for code in codes}


def by_region(markets: list[str]) -> dict[str, list[str]]:
    """The given markets grouped by region (regions in REGIONS order, markets in the given order;
    regions with none of them left out)."""
    return {region: chosen for region in REGIONS if (chosen := [m for m in markets if REGION_OF.get(m) == region])}
