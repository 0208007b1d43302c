"""PostGIS-aware seed values: lon/lat points, metre buffers, and the checks behind them.

The mistakes that make spatial seed data silently wrong are few and common: latitude
and longitude swapped, a geometry in the wrong SRID (often Web Mercator metres where
degrees were meant), a polygon that crosses itself, a "500 m" area drawn as 500
degrees. This module makes the right thing the short thing::

    from seeds.data import geo

    lon, lat = geo.offset(13.4050, 52.5200, east_m=800, north_m=-300)
    ctx.insert(stores, [{
        "name": "Berlin Mitte",
        "location": geo.point(lon, lat),                  # 'SRID=4326;POINT(lon lat)'
        "service_area": geo.metre_buffer(lon, lat, 500),  # a polygon, 500 m on the sphere
    }])

and :func:`coerce` is what :func:`seeds.runtime.validation.validate_rows` runs on every value
of a GeoAlchemy2 ``Geometry`` column, so a wrong SRID or geometry type stops the seed
before anything is written, naming the row and column.

GeoAlchemy2 and shapely are imported only when a function needs them: importing
GeoAlchemy2 registers SQLAlchemy event listeners, and shapely is optional (with it,
:func:`coerce` also checks that geometries are valid).
"""

from __future__ import annotations

import binascii
import importlib
import logging
import math
import numbers
import re
import struct
import sys
from dataclasses import dataclass
from decimal import Decimal
from types import ModuleType
from typing import Any

import sqlalchemy as sa

from seeds.errors import GeometryError

log = logging.getLogger(__name__)

WGS84 = 4326
"""The SRID of GPS longitude/latitude, and the default everywhere here."""

GEOGRAPHIC_SRIDS = frozenset({4326, 4258, 4269})
"""Longitude/latitude SRIDs (WGS 84, ETRS89, NAD83): their coordinates are range-checked
and they are the ones :func:`metre_buffer` can buffer as geography."""

# WGS 84 ellipsoid: semi-major axis and first eccentricity squared.
_A = 6_378_137.0
_E2 = (1 / 298.257223563) * (2 - 1 / 298.257223563)

# offset() rounds to 1e-9 degrees (about 0.1 mm): libm implementations may differ in
# the last bit of sin/cos, and seeds must give byte-identical rows on every machine.
_DIGITS = 9

# WKB type codes (ISO/OGC) and their WKT names; one list for both readers.
# fmt: off
_WKB_KINDS = {
    1: "POINT", 2: "LINESTRING", 3: "POLYGON", 4: "MULTIPOINT", 5: "MULTILINESTRING",
    6: "MULTIPOLYGON", 7: "GEOMETRYCOLLECTION", 8: "CIRCULARSTRING", 9: "COMPOUNDCURVE",
    10: "CURVEPOLYGON", 11: "MULTICURVE", 12: "MULTISURFACE", 15: "POLYHEDRALSURFACE",
    16: "TIN", 17: "TRIANGLE",
}
# fmt: on
_KINDS = frozenset(_WKB_KINDS.values())
_EWKB_SRID_FLAG = 0x20000000

# [SRID=n;]KIND[ Z|M|ZM] (...) or KIND EMPTY. The kind is lazy so "POINTZ" splits
# into POINT + Z.
_WKT = re.compile(
    r"\s*(?:SRID\s*=\s*(?P<srid>-?\d+)\s*;)?\s*"
    r"(?P<body>(?P<kind>[A-Za-z]+?)\s*(?:ZM|Z|M)?\s*(?:\(.*\)|EMPTY))\s*",
    re.DOTALL | re.IGNORECASE,
)
_HEX = re.compile(r"(?:[0-9A-Fa-f]{2}){5,}")
_WKT_NUMBERS = re.compile(r"[\s\d.,()+\-eE]*")


# -- building values ------------------------------------------------------------------
def point(lon: float, lat: float, srid: int = WGS84) -> str:
    """A point as EWKT, longitude first: ``'SRID=4326;POINT(13.405 52.52)'``.

    Both ``INSERT ... VALUES`` (GeoAlchemy2 binds it through ``ST_GeomFromEWKT``) and
    ``COPY`` (``ctx.bulk``) take the text as it is.

    Example::

        geo.point(13.4050, 52.5200)   # Berlin: 'SRID=4326;POINT(13.405 52.52)'

    Args:
        lon: Longitude (x), in degrees for the lon/lat SRIDs.
        lat: Latitude (y).
        srid: The spatial reference system of the coordinates.

    Raises:
        GeometryError: a coordinate is not a finite number, or (lon/lat SRIDs) outside
            [-180, 180] / [-90, 90]; a pair that only fits swapped says so.
    """
    _check_srid(srid)
    x, y = _coordinate_pair(lon, lat, srid, value=(lon, lat), column=None, subject="point")
    return f"SRID={srid};POINT({_fmt(x)} {_fmt(y)})"


def offset(lon: float, lat: float, east_m: float, north_m: float) -> tuple[float, float]:
    """The (lon, lat) ``east_m`` metres east and ``north_m`` metres north of a point.

    For scattering rows around a place, deterministically (feed it ``ctx.random``)::

        rnd = ctx.random("stores", n)
        lon, lat = geo.offset(13.405, 52.52, rnd.uniform(-3000, 3000), rnd.uniform(-3000, 3000))

    The result lies ``hypot(east_m, north_m)`` metres away along the initial bearing
    ``atan2(east_m, north_m)``, on the sphere that osculates the WGS 84 ellipsoid at
    the start point in that direction. So distances agree with PostGIS'
    ``ST_Distance(geography)`` (which measures on the ellipsoid) to well under 0.1% at
    city scale, where a single mean-radius sphere is off by up to 0.6%. Longitudes
    are wrapped into [-180, 180]; results are rounded to 1e-9 degrees (0.1 mm) so
    they are the same on every machine.

    Args:
        lon: Start longitude, WGS 84 degrees.
        lat: Start latitude.
        east_m: Metres east (negative: west).
        north_m: Metres north (negative: south).

    Raises:
        GeometryError: a coordinate or distance is not a finite number, or the start
            point is outside lon/lat range.
    """
    x, y = _coordinate_pair(lon, lat, WGS84, value=(lon, lat), column=None, subject="offset")
    east = _finite("east_m", east_m, value=east_m, column=None, subject="offset")
    north = _finite("north_m", north_m, value=north_m, column=None, subject="offset")
    distance = math.hypot(east, north)
    if distance == 0:
        return x, y
    bearing = math.atan2(east, north)
    phi, lam = math.radians(y), math.radians(x)
    # Radii of curvature of the ellipsoid at the start: along the meridian (m) and
    # the prime vertical (n); Euler's theorem gives the one in the direction of travel.
    w = math.sqrt(1 - _E2 * math.sin(phi) ** 2)
    m = _A * (1 - _E2) / w**3
    n = _A / w
    radius = 1 / (math.cos(bearing) ** 2 / m + math.sin(bearing) ** 2 / n)
    delta = distance / radius
    phi2 = math.asin(
        math.sin(phi) * math.cos(delta) + math.cos(phi) * math.sin(delta) * math.cos(bearing)
    )
    lam2 = lam + math.atan2(
        math.sin(bearing) * math.sin(delta) * math.cos(phi),
        math.cos(delta) - math.sin(phi) * math.sin(phi2),
    )
    lon2 = (math.degrees(lam2) + 180) % 360 - 180
    return round(lon2, _DIGITS) + 0.0, round(math.degrees(phi2), _DIGITS) + 0.0


def metre_buffer(lon: float, lat: float, metres: float, srid: int = WGS84) -> sa.ColumnElement[Any]:
    """A polygon ``metres`` around a point, measured on the sphere, built by the server.

    The SQL is ``CAST(ST_Buffer(CAST(ST_SetSRID(ST_MakePoint(lon, lat), srid) AS
    geography), metres) AS geometry(POLYGON, srid))`` with every number a bound
    parameter: buffering the *geography* makes the radius metres wherever the point
    is (a geometry buffer in SRID 4326 would be in degrees), and the cast to
    ``geometry(POLYGON, srid)`` makes the server itself guarantee the type and SRID.
    Use it as a row value for a Polygon column::

        ctx.insert(stores, [{"service_area": geo.metre_buffer(13.405, 52.52, 500), ...}])

    The polygon has 32 sides (PostGIS' default), so its area is about 0.6% below
    ``pi * metres**2``.

    Args:
        lon: Centre longitude.
        lat: Centre latitude.
        metres: The radius in metres, > 0.
        srid: A lon/lat SRID (see :data:`GEOGRAPHIC_SRIDS`).

    Raises:
        GeometryError: a bad coordinate or radius, or an SRID that is not lon/lat.
    """
    _check_srid(srid)
    if srid not in GEOGRAPHIC_SRIDS:
        raise GeometryError(
            f"cannot buffer in metres in SRID {srid}: it is not a lon/lat SRID "
            f"({sorted(GEOGRAPHIC_SRIDS)}); pass lon/lat, or buffer the projected geometry "
            "with ST_Buffer yourself",
            value=srid,
            subject="metre_buffer",
        )
    x, y = _coordinate_pair(lon, lat, srid, value=(lon, lat), column=None, subject="metre_buffer")
    radius = _finite("metres", metres, value=metres, column=None, subject="metre_buffer")
    if radius <= 0:
        raise GeometryError(
            f"has metres={metres!r}; give a radius above 0", value=metres, subject="metre_buffer"
        )
    centre = sa.func.ST_SetSRID(
        sa.func.ST_MakePoint(sa.literal(x, sa.Float), sa.literal(y, sa.Float)),
        sa.literal(srid, sa.Integer),
    )
    return metre_buffer_of(centre, sa.literal(radius, sa.Float), srid)


def metre_buffer_of(
    location: sa.ColumnElement[Any], metres: sa.ColumnElement[Any], srid: int = WGS84
) -> sa.ColumnElement[Any]:
    """:func:`metre_buffer` over SQL values: the polygon ``metres`` around ``location``.

    For computing many areas in one statement on the server, from points already in
    a table (``location`` a Point column, ``metres`` a column or a bound value)::

        area = geo.metre_buffer_of(stores.c.location, radii.c.metres)
        sa.update(stores).values(service_area=area).where(stores.c.id == radii.c.id)

    The SQL is ``CAST(ST_Buffer(CAST(location AS geography), metres) AS
    geometry(POLYGON, srid))``, the same as :func:`metre_buffer` builds for one
    point, so both give the same polygon for the same point and radius. Nothing is
    checked here: the values are the server's, and the cast makes it refuse a
    result of another type or SRID.

    Args:
        location: A Point expression in a lon/lat SRID.
        metres: The radius in metres.
        srid: The lon/lat SRID of ``location`` (see :data:`GEOGRAPHIC_SRIDS`).

    Raises:
        GeometryError: an SRID that is not lon/lat.
    """
    from geoalchemy2 import Geography, Geometry

    _check_srid(srid)
    if srid not in GEOGRAPHIC_SRIDS:
        raise GeometryError(
            f"cannot buffer in metres in SRID {srid}: it is not a lon/lat SRID "
            f"({sorted(GEOGRAPHIC_SRIDS)})",
            value=srid,
            subject="metre_buffer_of",
        )
    area = sa.func.ST_Buffer(sa.cast(location, Geography(geometry_type=None)), metres)
    return sa.cast(area, Geometry("POLYGON", srid=srid, spatial_index=False))


def from_ewkt(text: str) -> sa.ColumnElement[Any]:
    """``ST_GeomFromEWKT(text)`` with the text as an ordinary string parameter.

    This is how validation hands geometry values to the insert: GeoAlchemy2 binds a
    plain value through the column's ``Geometry`` type, which has no literal form, so
    ``alembic upgrade --sql`` could not print the row; a string parameter it can, and
    online the SQL is the same.

    Args:
        text: EWKT, or hex EWKB (PostGIS reads both).
    """
    return sa.func.ST_GeomFromEWKT(sa.literal(text, sa.Text))


# -- checking values ------------------------------------------------------------------
def is_geometry(type_: object) -> bool:
    """True for a GeoAlchemy2 ``Geometry`` column type (without importing GeoAlchemy2)."""
    # A Geometry instance exists only if geoalchemy2 was imported by whoever built it.
    types = sys.modules.get("geoalchemy2.types")
    return types is not None and isinstance(type_, types.Geometry)


def coerce(
    value: object,
    *,
    srid: int,
    geometry_type: str | None = "GEOMETRY",
    column: str | None = None,
) -> Any:
    """Check a value for a geometry column and return what the insert should be given.

    Accepted, and what comes back:

    - EWKT or WKT text, or hex (E)WKB text: the text, with ``SRID=<srid>;`` (or the
      EWKB SRID) added when it carries none. Unchanged (the same object) when fine.
    - GeoAlchemy2 ``WKTElement`` / ``WKBElement``: EWKT / hex EWKB text.
    - shapely geometries (when shapely is installed): EWKT text.
    - ``(lon, lat)`` tuples, for points: :func:`point` text.
    - SQL expressions (:func:`metre_buffer`, ``func.ST_...``): unchanged and
      unchecked; the server checks them.

    A value that carries no SRID is taken to be in the column's. With shapely
    installed, geometries must be valid (``ST_IsValid``); coordinates of lon/lat SRIDs
    must be in range either way (for binary input only with shapely).

    Example::

        geo.coerce((13.405, 52.52), srid=4326, geometry_type="POINT")
        # 'SRID=4326;POINT(13.405 52.52)'

    Args:
        value: The row's value (not None).
        srid: The column's SRID; <= 0 means the column does not fix one.
        geometry_type: The column's type (``"POINT"``, ``"POLYGON"``, ...);
            ``"GEOMETRY"`` or None accept any.
        column: The column's name, for messages.

    Raises:
        GeometryError: wrong SRID, wrong geometry type, unreadable text, an invalid
            geometry, or coordinates out of lon/lat range; the message says the fix.
    """
    if isinstance(value, sa.ClauseElement):
        return value
    target = srid if srid > 0 else None
    if isinstance(value, tuple):
        _check_kind("POINT", geometry_type, value=value, column=column, what="a (lon, lat) tuple")
        if len(value) != 2:
            raise GeometryError(
                f"got a tuple of {len(value)} values {_short(value)}; a point is (lon, lat)",
                value=value,
                column=column,
            )
        x, y = _coordinate_pair(
            value[0], value[1], target or WGS84, value=value, column=column, subject="point"
        )
        return f"SRID={target or WGS84};POINT({_fmt(x)} {_fmt(y)})"
    parsed = _parse(value, column)
    if target is not None and parsed.srid not in (None, target):
        raise GeometryError(
            f"expects SRID {target}, got {parsed.srid}; reproject or pass srid={target}",
            value=value,
            column=column,
        )
    _check_kind(parsed.kind, geometry_type, value=value, column=column)
    effective = parsed.srid or target
    if parsed.srid is None and target is not None:
        log.debug("%s carries no SRID; taken to be the column's %d", _short(value), target)
    coordinates = _check_shape(parsed, value, column)
    if effective in GEOGRAPHIC_SRIDS and coordinates:
        _check_ranges(coordinates, effective, value=value, column=column)
    return _output(value, parsed, effective)


# -- internals ------------------------------------------------------------------------
@dataclass(frozen=True)
class _Parsed:
    kind: str  # POINT, POLYGON, ... without Z/M
    srid: int | None  # None: the value carries no SRID
    wkt: str | None = None  # the WKT without SRID prefix (text input)
    wkb: bytes | None = None  # (E)WKB (binary input)
    shape: Any = None  # the shapely geometry given (shapely input)


def _short(value: object, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else f"{text[: limit - 3]}..."


def _fmt(x: float) -> str:
    # repr is the shortest text that reads back as the same float; Decimal spells it
    # without an exponent, which every WKT reader takes.
    text = format(Decimal(repr(x + 0.0)), "f")
    return text[:-2] if text.endswith(".0") else text


def _check_srid(srid: object) -> None:
    if isinstance(srid, bool) or not isinstance(srid, int) or srid <= 0:
        raise GeometryError(
            f"has srid={srid!r}; give a positive integer SRID such as 4326", value=srid
        )


def _finite(name: str, number: object, *, value: object, column: str | None, subject: str) -> float:
    if isinstance(number, bool) or not isinstance(number, numbers.Real | Decimal):
        raise GeometryError(
            f"has {name} {_short(number)} ({type(number).__name__}), which is not a number; "
            "pass a float",
            value=value,
            column=column,
            subject=subject,
        )
    result = float(number)
    if not math.isfinite(result):
        raise GeometryError(
            f"has {name} {result}, which is not a finite number; pass a real coordinate",
            value=value,
            column=column,
            subject=subject,
        )
    return result


def _coordinate_pair(
    lon: object, lat: object, srid: int, *, value: object, column: str | None, subject: str
) -> tuple[float, float]:
    x = _finite("lon", lon, value=value, column=column, subject=subject)
    y = _finite("lat", lat, value=value, column=column, subject=subject)
    if srid in GEOGRAPHIC_SRIDS and not _in_range(x, y):
        swapped = abs(x) <= 90 < abs(y) <= 180
        raise GeometryError(
            _range_reason(x, y, srid, swapped=swapped), value=value, column=column, subject=subject
        )
    return x, y


def _in_range(x: float, y: float) -> bool:
    return -180 <= x <= 180 and -90 <= y <= 90


def _range_reason(x: float, y: float, srid: int, *, swapped: bool) -> str:
    where = (
        f"has (lon {_fmt(x)}, lat {_fmt(y)}) outside lon [-180, 180] / lat [-90, 90] of SRID {srid}"
    )
    if swapped:
        return f"{where}: looks like (lat, lon); pass (lon, lat) = ({_fmt(y)}, {_fmt(x)})"
    if abs(x) > 360 or abs(y) > 180:
        return (
            f"{where}: looks like projected coordinates (metres), not degrees; reproject to "
            f"SRID {srid} or give the value its real SRID"
        )
    if abs(y) > 90:
        return f"{where}; fix the latitude"
    return f"{where}; wrap the longitude into [-180, 180] (add or subtract 360)"


def _check_kind(
    kind: str,
    geometry_type: str | None,
    *,
    value: object,
    column: str | None,
    what: str | None = None,
) -> None:
    expected = _base_kind(geometry_type or "GEOMETRY")
    if expected in ("GEOMETRY", kind):
        return
    hint = (
        " (geo.metre_buffer(lon, lat, metres) is a polygon around a point)"
        if expected == "POLYGON"
        else ""
    )
    raise GeometryError(
        f"expects a {expected}, got {what or 'a ' + kind} {_short(value)}; pass a {expected}{hint}",
        value=value,
        column=column,
    )


def _base_kind(name: str) -> str:
    kind = name.upper().replace(" ", "")
    for suffix in ("ZM", "Z", "M"):
        if kind.endswith(suffix) and kind[: -len(suffix)] in _KINDS | {"GEOMETRY"}:
            return kind[: -len(suffix)]
    return kind


def _unreadable(value: object, column: str | None, why: str) -> GeometryError:
    return GeometryError(
        f"got {_short(value)}, which is not a geometry: {why}; write EWKT such as "
        "'SRID=4326;POINT(13.405 52.52)', or use geo.point(lon, lat)",
        value=value,
        column=column,
    )


def _parse(value: object, column: str | None) -> _Parsed:
    elements = sys.modules.get("geoalchemy2.elements")
    shapely = sys.modules.get("shapely")
    if elements is not None and isinstance(value, elements.WKTElement):
        parsed = _parse_text(str(value.data), value, column)
        if parsed.srid is None and value.srid > 0:
            return _Parsed(parsed.kind, int(value.srid), wkt=parsed.wkt)
        return parsed
    if elements is not None and isinstance(value, elements.WKBElement):
        data = value.data
        raw = binascii.unhexlify(data) if isinstance(data, str) else bytes(data)
        parsed = _parse_wkb(raw, value, column)
        if parsed.srid is None and value.srid > 0:
            return _Parsed(parsed.kind, int(value.srid), wkb=raw)
        return parsed
    if isinstance(value, bytes | bytearray | memoryview):
        return _parse_wkb(bytes(value), value, column)
    if isinstance(value, str):
        if _HEX.fullmatch(value.strip()):
            return _parse_wkb(binascii.unhexlify(value.strip()), value, column)
        return _parse_text(value, value, column)
    if shapely is not None and isinstance(value, shapely.Geometry):
        srid = int(shapely.get_srid(value))
        kind = str(value.geom_type).upper()
        if kind not in _KINDS:
            raise _unreadable(value, column, f"PostGIS has no {value.geom_type} type")
        return _Parsed(kind, srid if srid > 0 else None, shape=value)
    raise GeometryError(
        f"got a {type(value).__name__} {_short(value)}; pass EWKT text, a WKBElement or "
        "WKTElement, a shapely geometry, (lon, lat) for a point, or a SQL expression "
        "such as geo.metre_buffer(...)",
        value=value,
        column=column,
    )


def _parse_text(text: str, value: object, column: str | None) -> _Parsed:
    match = _WKT.fullmatch(text)
    if match is None:
        raise _unreadable(value, column, "not WKT/EWKT")
    kind = match["kind"].upper()
    if kind not in _KINDS:
        raise _unreadable(value, column, f"unknown geometry type {match['kind']!r}")
    srid = int(match["srid"]) if match["srid"] is not None else 0
    return _Parsed(kind, srid if srid > 0 else None, wkt=match["body"])


def _parse_wkb(data: bytes, value: object, column: str | None) -> _Parsed:
    if len(data) < 5 or data[0] not in (0, 1):
        raise _unreadable(value, column, "not (E)WKB")
    order = "<I" if data[0] else ">I"
    (code,) = struct.unpack(order, data[1:5])
    srid = 0
    if code & _EWKB_SRID_FLAG:
        if len(data) < 9:
            raise _unreadable(value, column, "truncated EWKB")
        (srid,) = struct.unpack(order, data[5:9])
    # EWKB flags Z/M/SRID in the high bits; ISO WKB adds 1000s (1001 = POINT Z).
    kind = _WKB_KINDS.get((code & 0x0FFFFFFF) % 1000)
    if kind is None:
        raise _unreadable(value, column, f"unknown WKB geometry code {code}")
    return _Parsed(kind, srid if srid > 0 else None, wkb=data)


def _shapely() -> ModuleType | None:
    try:
        return importlib.import_module("shapely")
    except ImportError:
        return None


def _check_shape(parsed: _Parsed, value: object, column: str | None) -> list[tuple[float, float]]:
    """Parse with shapely when it is installed (syntax, validity); return the x/y pairs."""
    shapely = _shapely()
    if shapely is None:
        return _wkt_coordinates(parsed, value, column)
    shape = parsed.shape
    if shape is None:
        try:
            if parsed.wkt is not None:
                shape = shapely.from_wkt(parsed.wkt)
            else:
                shape = shapely.from_wkb(parsed.wkb)
        except (shapely.errors.GEOSException, ValueError) as err:
            raise _unreadable(value, column, str(err).splitlines()[0]) from err
    if not shapely.is_valid(shape):
        reason = importlib.import_module("shapely.validation").explain_validity(shape)
        raise GeometryError(
            f"got an invalid {parsed.kind} ({reason}) in {_short(value)}; fix the coordinates "
            "(a ring must be closed and must not cross itself; ST_MakeValid shows a repair), "
            "or build the area with geo.metre_buffer()",
            value=value,
            column=column,
        )
    return [(float(x), float(y)) for x, y in shapely.get_coordinates(shape).tolist()]


def _wkt_coordinates(
    parsed: _Parsed, value: object, column: str | None
) -> list[tuple[float, float]]:
    """Without shapely: a light syntax check of WKT and its x/y pairs (none for WKB)."""
    if parsed.wkt is None or parsed.kind == "GEOMETRYCOLLECTION":
        return []
    inner = parsed.wkt[parsed.wkt.find("(") :] if "(" in parsed.wkt else ""
    depth = 0
    for char in inner:
        depth += {"(": 1, ")": -1}.get(char, 0)
        if depth < 0:
            break
    if depth != 0 or not _WKT_NUMBERS.fullmatch(inner):
        raise _unreadable(value, column, "unbalanced parentheses or stray characters")
    pairs = []
    for group in re.split(r"[(),]", inner):
        fields = group.split()
        if not fields:
            continue
        try:
            pairs.append((float(fields[0]), float(fields[1])))
        except (IndexError, ValueError):
            raise _unreadable(value, column, f"bad coordinate {group.strip()!r}") from None
    return pairs


def _check_ranges(
    coordinates: list[tuple[float, float]], srid: int, *, value: object, column: str | None
) -> None:
    bad = next(((x, y) for x, y in coordinates if not _in_range(x, y)), None)
    if bad is None:
        return
    # (lat, lon) order shows as every x fitting a latitude while some y does not.
    swapped = all(abs(x) <= 90 and abs(y) <= 180 for x, y in coordinates)
    raise GeometryError(_range_reason(*bad, srid, swapped=swapped), value=value, column=column)


def _with_srid(data: bytes, srid: int) -> bytes:
    """EWKB carrying ``srid``: set the SRID flag and the SRID after the type code."""
    order = "<I" if data[0] else ">I"
    (code,) = struct.unpack(order, data[1:5])
    if code & _EWKB_SRID_FLAG:
        return data[:5] + struct.pack(order, srid) + data[9:]
    return (
        data[:1] + struct.pack(order, code | _EWKB_SRID_FLAG) + struct.pack(order, srid) + data[5:]
    )


def _output(value: object, parsed: _Parsed, srid: int | None) -> Any:
    if isinstance(value, str) and parsed.srid == srid:
        return value  # already says what it is
    if parsed.shape is not None:
        shapely = _shapely()
        assert shapely is not None  # a shapely geometry came in
        text = shapely.to_wkt(parsed.shape, rounding_precision=-1)
        return text if srid is None else f"SRID={srid};{text}"
    if parsed.wkt is not None:
        return parsed.wkt if srid is None else f"SRID={srid};{parsed.wkt}"
    assert parsed.wkb is not None
    data = parsed.wkb if srid is None else _with_srid(parsed.wkb, srid)
    return binascii.hexlify(data).decode("ascii").upper()
