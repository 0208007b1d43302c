"""Real cities, longitude first, for the reference app's ``stores`` seed.

Coordinates are WGS 84 (SRID 4326) degrees of each city's centre, rounded to four
decimals (about 10 m). They span every inhabited continent, north and south, east and
west, up to the antimeridian (Suva), so a seed that mixes up (lon, lat) fails loudly
instead of quietly putting stores in the sea. Country codes are ISO 3166-1 alpha-2.
"""

from __future__ import annotations

from typing import NamedTuple


class City(NamedTuple):
    """A city centre: ``lon`` is x (east), ``lat`` is y (north)."""

    name: str
    country: str
    lon: float
    lat: float


CITIES: tuple[City, ...] = (
    City("Berlin", "DE", 13.4050, 52.5200),
    City("London", "GB", -0.1276, 51.5072),
    City("Paris", "FR", 2.3522, 48.8566),
    City("Madrid", "ES", -3.7038, 40.4168),
    City("Rome", "IT", 12.4964, 41.9028),
    City("Amsterdam", "NL", 4.9041, 52.3676),
    City("Stockholm", "SE", 18.0686, 59.3293),
    City("Warsaw", "PL", 21.0122, 52.2297),
    City("Reykjavik", "IS", -21.9426, 64.1466),
    City("Istanbul", "TR", 28.9784, 41.0082),
    City("Cairo", "EG", 31.2357, 30.0444),
    City("Lagos", "NG", 3.3792, 6.5244),
    City("Nairobi", "KE", 36.8219, -1.2921),
    City("Cape Town", "ZA", 18.4241, -33.9249),
    City("Mumbai", "IN", 72.8777, 19.0760),
    City("Singapore", "SG", 103.8198, 1.3521),
    City("Beijing", "CN", 116.4074, 39.9042),
    City("Seoul", "KR", 126.9780, 37.5665),
    City("Tokyo", "JP", 139.6917, 35.6895),
    City("Sydney", "AU", 151.2093, -33.8688),
    City("Auckland", "NZ", 174.7633, -36.8485),
    City("Suva", "FJ", 178.4419, -18.1416),
    City("New York", "US", -74.0060, 40.7128),
    City("Chicago", "US", -87.6298, 41.8781),
    City("Los Angeles", "US", -118.2437, 34.0522),
    City("Toronto", "CA", -79.3832, 43.6532),
    City("Mexico City", "MX", -99.1332, 19.4326),
    City("Lima", "PE", -77.0428, -12.0464),
    City("Sao Paulo", "BR", -46.6333, -23.5505),
    City("Buenos Aires", "AR", -58.3816, -34.6037),
)
