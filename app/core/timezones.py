"""IANA time zones and times of day, as every area checks and uses them.

`main_zone(country)` is a country's main zone: the first of the country in the IANA
`zone.tab` (its most populous region), except where that is a remote one (`BR` lists Noronha
first) — `MAIN_ZONE_OVERRIDES`.
"""

import importlib.resources
import re
import zoneinfo
from functools import lru_cache

_TIME = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")
MAIN_ZONE_OVERRIDES = {
    "AU": "Australia/Sydney",
    "BR": "America/Sao_Paulo",
    "CA": "America/Toronto",
    "CD": "Africa/Kinshasa",
    "ID": "Asia/Jakarta",
    "KZ": "Asia/Almaty",
    "MN": "Asia/Ulaanbaatar",
    "RU": "Europe/Moscow",
    "UA": "Europe/Kyiv",
}


def minutes_of_day(value: str) -> int | None:
    """`"20:30"` -> 1230; None for anything but `HH:MM` (24-hour)."""
    found = _TIME.match(value.strip()) if isinstance(value, str) else None
    if found is None:
        return None
    return int(found.group(1)) * 60 + int(found.group(2))


def time_of_day(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


@lru_cache(maxsize=1024)
def valid_time_zone(name: str) -> bool:
    """An IANA zone name this machine knows (`Europe/Madrid`; not `CET+1`, not a path)."""
    if not name or len(name) > 64 or name.startswith("/") or ".." in name:
        return False
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return False
    return True


def _zone_tab() -> str:
    try:
        return importlib.resources.files("tzdata").joinpath("zoneinfo/zone.tab").read_text()
    except (ModuleNotFoundError, FileNotFoundError):  # pragma: no cover - no tzdata wheel
        with open("/usr/share/zoneinfo/zone.tab") as f:
            return f.read()


@lru_cache(maxsize=1)
def main_zones() -> dict[str, str]:
    """Country code -> its main IANA zone."""
    zones: dict[str, str] = {}
    for line in _zone_tab().splitlines():
        if not line or line.startswith("#"):
            continue
        country, _coordinates, zone, *_ = line.split("\t")
        zones.setdefault(country, zone)
    zones.update(MAIN_ZONE_OVERRIDES)
    return zones


def main_zone(country: str | None) -> str | None:
    return main_zones().get(country.upper()) if country else None
