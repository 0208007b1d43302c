"""PostGIS-aware generation and validation (seeds.data.geo), checked against a real PostGIS."""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import shapely  # type: ignore[import-untyped]  # no stubs installed; tests only call it
import sqlalchemy as sa
from alembic.util import CommandError
from geoalchemy2 import Geography, Geometry, WKBElement, WKTElement
from geoalchemy2.shape import from_shape, to_shape
from sqlalchemy.dialects import postgresql

from app.seeds.cities import CITIES
from seeds import geo
from seeds.errors import GeometryError, SeedDataError
from seeds.runtime import ledger
from seeds.runtime.context import _canonical
from seeds.runtime.validation import validate_rows
from tests.helpers import PROJECT_ROOT, rows, run_cli, version
from tests.seedproject import SeedProject

BERLIN = (13.4050, 52.5200)

_meta = sa.MetaData()
places = sa.Table(
    "places",
    _meta,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("name", sa.String(50)),
    sa.Column("location", Geometry("POINT", srid=4326, spatial_index=False)),
    sa.Column("area", Geometry("POLYGON", srid=4326, spatial_index=False)),
)


@pytest.fixture
def conn(engine: sa.Engine) -> Any:
    """A connection on the per-test database, with the ``places`` table."""
    with engine.begin() as connection:
        _meta.create_all(connection)
        yield connection


def geography(expression: Any) -> sa.ColumnElement[Any]:
    return sa.cast(expression, Geography(geometry_type=None))


def ewkt(conn: sa.Connection, value: Any) -> str:
    """What PostGIS makes of a value the way an INSERT binds it (ST_GeomFromEWKT)."""
    if isinstance(value, sa.ClauseElement):
        return str(conn.scalar(sa.select(sa.func.ST_AsEWKT(value))))
    return str(conn.scalar(sa.select(sa.func.ST_AsEWKT(sa.func.ST_GeomFromEWKT(value)))))


# -- point() ----------------------------------------------------------------------------
def test_point_is_ewkt_lon_first_and_postgis_reads_it(conn: sa.Connection) -> None:
    text = geo.point(*BERLIN)
    assert text == "SRID=4326;POINT(13.405 52.52)"
    x, y, srid = conn.execute(
        sa.select(
            sa.func.ST_X(sa.func.ST_GeomFromEWKT(text)),
            sa.func.ST_Y(sa.func.ST_GeomFromEWKT(text)),
            sa.func.ST_SRID(sa.func.ST_GeomFromEWKT(text)),
        )
    ).one()
    assert (x, y, srid) == (13.405, 52.52, 4326)
    # No exponent notation, no "-0", whole numbers without ".0"; exact round trip.
    assert geo.point(-0.0, 1e-7) == "SRID=4326;POINT(0 0.0000001)"
    assert geo.point(13, -52) == "SRID=4326;POINT(13 -52)"
    tricky = (0.1 + 0.2, -33.868800000000004)
    read = sa.func.ST_GeomFromEWKT(geo.point(*tricky))
    assert conn.execute(sa.select(sa.func.ST_X(read), sa.func.ST_Y(read))).one() == tricky
    assert geo.point(13.4, 52.5, srid=4258) == "SRID=4258;POINT(13.4 52.5)"


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (  # Sydney as (lat, lon)
            (-33.8688, 151.2093),
            "looks like (lat, lon); pass (lon, lat) = (151.2093, -33.8688)",
        ),
        ((200.0, 10.0), "wrap the longitude into [-180, 180]"),
        ((181.0, 0.0), "(lon 181, lat 0) outside lon [-180, 180] / lat [-90, 90] of SRID 4326"),
        ((120.0, 95.0), "lat 95) outside"),
        ((1491607.2, 6894384.1), "looks like projected coordinates (metres)"),
        ((math.nan, 1.0), "has lon nan, which is not a finite number"),
        ((1.0, math.inf), "has lat inf, which is not a finite number"),
        (("13.4", 52.5), "has lon '13.4' (str), which is not a number"),
        ((True, 52.5), "has lon True (bool), which is not a number"),
    ],
    ids=["swapped", "lon-360", "lon-181", "lat-95", "projected", "nan", "inf", "str", "bool"],
)
def test_point_refuses_bad_coordinates_and_names_the_fix(
    args: tuple[Any, Any], expected: str
) -> None:
    with pytest.raises(GeometryError) as info:
        geo.point(*args)
    assert expected in str(info.value)
    assert str(info.value).startswith("point has ")


@pytest.mark.parametrize("srid", [0, -1, 4326.0, "4326"])
def test_point_refuses_a_bad_srid(srid: Any) -> None:
    with pytest.raises(GeometryError, match="positive integer SRID"):
        geo.point(1.0, 2.0, srid=srid)


def test_point_checks_ranges_only_for_lon_lat_srids() -> None:
    assert geo.point(1491607.2, 6894384.1, srid=3857) == "SRID=3857;POINT(1491607.2 6894384.1)"


# -- offset() ---------------------------------------------------------------------------
OFFSET_CASES = [
    ("Berlin", 13.4050, 52.5200, 1_000.0, 0.0),
    ("Berlin", 13.4050, 52.5200, 0.0, -2_500.0),
    ("Singapore (equator, north)", 103.8198, 1.3521, 0.0, 5_000.0),
    ("Singapore (equator, east)", 103.8198, 1.3521, 5_000.0, 0.0),
    ("Reykjavik (high latitude)", -21.9426, 64.1466, -3_000.0, 4_000.0),
    ("Sydney (south)", 151.2093, -33.8688, 150.0, -80.0),
    ("Suva (across the antimeridian)", 178.4419, -18.1416, 200_000.0, 0.0),
    ("Tromso-ish (far north, long way)", 18.95, 69.65, 30_000.0, 40_000.0),
]


@pytest.mark.parametrize(
    ("lon", "lat", "east", "north"),
    [case[1:] for case in OFFSET_CASES],
    ids=[case[0] for case in OFFSET_CASES],
)
def test_offset_distance_and_direction_agree_with_postgis(
    conn: sa.Connection, lon: float, lat: float, east: float, north: float
) -> None:
    lon2, lat2 = geo.offset(lon, lat, east, north)
    assert -180 <= lon2 <= 180 and -90 <= lat2 <= 90
    start = sa.func.ST_GeomFromEWKT(geo.point(lon, lat))
    end = sa.func.ST_GeomFromEWKT(geo.point(lon2, lat2))
    distance, azimuth = conn.execute(
        sa.select(
            sa.func.ST_Distance(geography(start), geography(end)),  # on the WGS 84 ellipsoid
            sa.func.ST_Azimuth(geography(start), geography(end)),
        )
    ).one()
    wanted = math.hypot(east, north)
    assert distance == pytest.approx(wanted, rel=0.005)
    assert distance == pytest.approx(wanted, rel=0.001)  # the osculating sphere does better
    bearing = math.atan2(east, north) % (2 * math.pi)
    assert math.degrees(abs(azimuth - bearing)) < 0.5


def test_offset_is_deterministic_and_zero_is_the_point() -> None:
    assert geo.offset(*BERLIN, 1234.5, -987.6) == geo.offset(*BERLIN, 1234.5, -987.6)
    assert geo.offset(*BERLIN, 0, 0) == BERLIN
    lon, lat = geo.offset(179.999, 0.0, 1_000, 0)
    assert lon == pytest.approx(-179.992016847)  # wrapped across the antimeridian


def test_offset_checks_its_input() -> None:
    with pytest.raises(GeometryError, match=r"looks like \(lat, lon\)"):
        geo.offset(52.52, 113.405, 10, 10)
    with pytest.raises(GeometryError, match="north_m nan"):
        geo.offset(*BERLIN, 10, math.nan)


# -- metre_buffer() -------------------------------------------------------------------
@pytest.mark.parametrize("metres", [500, 5_000])
@pytest.mark.parametrize(
    "city",
    [c for c in CITIES if c.name in {"Berlin", "Singapore", "Reykjavik", "Suva"}],
    ids=lambda c: c.name,
)
def test_metre_buffer_is_a_valid_polygon_of_that_radius(
    conn: sa.Connection, city: Any, metres: int
) -> None:
    area = geo.metre_buffer(city.lon, city.lat, metres)
    centre = sa.func.ST_GeomFromEWKT(geo.point(city.lon, city.lat))
    valid, kind, srid, contains, sphere_area, max_distance = conn.execute(
        sa.select(
            sa.func.ST_IsValid(area),
            sa.func.GeometryType(area),
            sa.func.ST_SRID(area),
            sa.func.ST_Contains(area, centre),
            sa.func.ST_Area(geography(area)),
            sa.func.ST_MaxDistance(area, centre),
        )
    ).one()
    assert (valid, kind, srid, contains) == (True, "POLYGON", 4326, True)
    assert sphere_area == pytest.approx(math.pi * metres**2, rel=0.02)
    assert max_distance < 1  # degrees: the radius was metres, not degrees


def test_metre_buffer_binds_its_numbers() -> None:
    # SQLAlchemy leaves the dialect's constructor unannotated.
    dialect = postgresql.dialect()  # type: ignore[no-untyped-call]
    sql = str(geo.metre_buffer(*BERLIN, 500).compile(dialect=dialect))
    assert "13.405" not in sql and "500" not in sql
    assert sql.count("%(") == 4
    assert "AS geography" in sql and "AS geometry(POLYGON,4326)" in sql


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"metres": 0}, "give a radius above 0"),
        ({"metres": math.nan}, "metres nan"),
        ({"metres": 500, "srid": 3857}, "not a lon/lat SRID"),
        ({"metres": 500, "lat": 100.0}, "looks like (lat, lon)"),
    ],
    ids=["zero", "nan", "projected-srid", "swapped"],
)
def test_metre_buffer_refuses_bad_input(kwargs: dict[str, Any], expected: str) -> None:
    args = {"lon": 13.4, "lat": 52.5, **kwargs}
    with pytest.raises(GeometryError) as info:
        geo.metre_buffer(**args)
    assert expected in str(info.value)


# -- coerce() ---------------------------------------------------------------------------
POINT_WKB = from_shape(shapely.Point(13.405, 52.52), srid=4326)  # EWKB, SRID inside
PLAIN_WKB = WKBElement(shapely.Point(13.405, 52.52).wkb)  # WKB without SRID
ACCEPTED = [
    ("ewkt", "SRID=4326;POINT(13.405 52.52)"),
    ("wkt-without-srid", "POINT(13.405 52.52)"),
    ("wkt-lowercase-spaces", " point ( 13.405 52.52 ) "),
    ("wkt-element", WKTElement("POINT(13.405 52.52)", srid=4326)),
    ("wkt-element-ewkt", WKTElement("SRID=4326;POINT(13.405 52.52)", extended=True)),
    ("wkb-element", POINT_WKB),
    ("wkb-element-no-srid", PLAIN_WKB),
    ("hex-ewkb", POINT_WKB.desc),
    ("hex-wkb-no-srid", PLAIN_WKB.desc),
    ("bytes-wkb", bytes(shapely.Point(13.405, 52.52).wkb)),
    ("shapely", shapely.Point(13.405, 52.52)),
    ("shapely-with-srid", shapely.set_srid(shapely.Point(13.405, 52.52), 4326)),
    ("tuple", (13.405, 52.52)),
]


@pytest.mark.parametrize("value", [v for _, v in ACCEPTED], ids=[i for i, _ in ACCEPTED])
def test_coerce_accepts_each_kind_and_the_result_inserts(conn: sa.Connection, value: Any) -> None:
    result = geo.coerce(value, srid=4326, geometry_type="POINT", column="location")
    assert ewkt(conn, result) == "SRID=4326;POINT(13.405 52.52)"
    conn.execute(places.insert().values(name="x", location=result))
    stored = conn.execute(sa.select(places.c.location)).scalar_one()
    assert stored.srid == 4326 and to_shape(stored).equals(shapely.Point(13.405, 52.52))


def test_coerce_returns_good_ewkt_and_sql_expressions_unchanged() -> None:
    text = "SRID=4326;POLYGON((0 0, 1 0, 1 1, 0 0))"
    assert geo.coerce(text, srid=4326, geometry_type="POLYGON") is text
    area = geo.metre_buffer(*BERLIN, 500)
    assert geo.coerce(area, srid=4326, geometry_type="POLYGON") is area
    anything = sa.func.ST_GeomFromEWKT("SRID=3857;POINT(1 2)")  # unchecked: the server's job
    assert geo.coerce(anything, srid=4326, geometry_type="POINT") is anything


def test_coerce_accepts_any_type_for_geometry_columns_and_any_srid_when_unset() -> None:
    line = "SRID=3857;LINESTRING(0 0, 10 10)"
    assert geo.coerce(line, srid=-1, geometry_type="GEOMETRY") is line
    assert geo.coerce("POINT Z (1 2 3)", srid=4326, geometry_type="POINTZ") == (
        "SRID=4326;POINT Z (1 2 3)"
    )


REFUSED = [
    (
        "wrong-srid",
        "SRID=3857;POINT(1491607 6894384)",
        "POINT",
        "column 'location' expects SRID 4326, got 3857; reproject or pass srid=4326",
    ),
    (
        "wrong-srid-wkb",
        from_shape(shapely.Point(1491607, 6894384), srid=3857),
        "POINT",
        "expects SRID 4326, got 3857",
    ),
    (
        "wrong-srid-shapely",
        shapely.set_srid(shapely.Point(1, 2), 3857),
        "POINT",
        "expects SRID 4326, got 3857",
    ),
    ("wrong-type", "SRID=4326;LINESTRING(0 0, 1 1)", "POINT", "expects a POINT, got a LINESTRING"),
    ("tuple-for-polygon", (13.4, 52.5), "POLYGON", "expects a POLYGON, got a (lon, lat) tuple"),
    ("point-for-polygon", shapely.Point(1, 2), "POLYGON", "geo.metre_buffer(lon, lat, metres)"),
    ("unparsable", "POINT(13.4 52.5", "POINT", "which is not a geometry"),
    ("not-wkt", "Berlin", "POINT", "not WKT/EWKT"),
    ("unknown-type", "BLOB(1 2)", "POINT", "unknown geometry type 'BLOB'"),
    (
        "self-intersecting",
        "POLYGON((0 0, 1 1, 1 0, 0 1, 0 0))",
        "POLYGON",
        "invalid POLYGON (Self-intersection[0.5 0.5])",
    ),
    (
        "bowtie-shapely",
        shapely.Polygon([(0, 0), (2, 0), (2, 2), (1, -1)]),
        "POLYGON",
        "invalid POLYGON (Self-intersection",
    ),
    ("swapped-text", "POINT(-33.8688 151.2093)", "POINT", "looks like (lat, lon)"),
    (
        "projected-polygon",
        "POLYGON((1491607 6894384, 1491707 6894384, 1491707 6894484, 1491607 6894384))",
        "POLYGON",
        "looks like projected coordinates",
    ),
    ("three-values", (1.0, 2.0, 3.0), "POINT", "a tuple of 3 values"),
    ("unsupported", {"lon": 1, "lat": 2}, "POINT", "got a dict"),
]


@pytest.mark.parametrize(
    ("value", "geometry_type", "expected"),
    [case[1:] for case in REFUSED],
    ids=[case[0] for case in REFUSED],
)
def test_coerce_refuses_and_names_the_problem(
    value: Any, geometry_type: str, expected: str
) -> None:
    with pytest.raises(GeometryError) as info:
        geo.coerce(value, srid=4326, geometry_type=geometry_type, column="location")
    assert expected in str(info.value)
    assert info.value.column == "location" and info.value.value is value


def test_coerce_without_shapely_still_checks_srid_type_and_ranges(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(geo, "_shapely", lambda: None)
    assert geo.coerce("POINT(1 2)", srid=4326, geometry_type="POINT") == "SRID=4326;POINT(1 2)"
    for value, expected in [
        ("SRID=3857;POINT(1 2)", "expects SRID 4326, got 3857"),
        ("POINT(-33.8688 151.2093)", "looks like (lat, lon)"),
        ("POINT(1 2", "which is not a geometry"),
        ("POINT(1 x)", "which is not a geometry"),
    ]:
        with pytest.raises(GeometryError, match=expected.replace("(", r"\(").replace(")", r"\)")):
            geo.coerce(value, srid=4326, geometry_type="POINT")


# -- validation and the checksum ------------------------------------------------------
def test_validate_rows_names_row_and_column_and_normalises_a_copy() -> None:
    given = {"name": "a", "location": (13.405, 52.52), "area": None}
    batch: list[Any] = [given, {"name": "b", "location": geo.point(*BERLIN), "area": None}]
    assert validate_rows("s9", places, batch) == ["name", "location", "area"]
    # The insert gets ST_GeomFromEWKT(<text parameter>): it renders in --sql output too.
    for row in batch:
        assert _canonical(row["location"]) == "ST_GeomFromEWKT('SRID=4326;POINT(13.405 52.52)')"
    assert given["location"] == (13.405, 52.52)  # the caller's row is left alone
    assert batch[0] is not given
    bad: list[Mapping[str, Any]] = [
        {"name": "a", "location": geo.point(*BERLIN), "area": None},
        {"name": "b", "location": "SRID=3857;POINT(1491607 6894384)", "area": None},
    ]
    with pytest.raises(SeedDataError) as info:
        validate_rows("s9", places, bad)
    assert str(info.value) == (
        "seed s9: table places row 1 column location: expects SRID 4326, got 3857; "
        "reproject or pass srid=4326"
    )
    assert (info.value.row_index, info.value.column) == (1, "location")


def test_checksum_text_of_sql_expressions_and_elements_is_stable() -> None:
    first, second = geo.metre_buffer(*BERLIN, 500), geo.metre_buffer(*BERLIN, 500)
    assert _canonical(first) == _canonical(second)
    assert "ST_MakePoint(13.405, 52.52)" in str(_canonical(first))
    assert _canonical(geo.metre_buffer(*BERLIN, 501)) != _canonical(first)
    element = from_shape(shapely.Point(1, 2), srid=4326)
    assert _canonical(element) == _canonical(from_shape(shapely.Point(1, 2), srid=4326))
    assert "0x" not in str(_canonical(element))
    assert _canonical("plain") == "plain"


def test_every_city_is_a_lon_lat_point() -> None:
    assert len(CITIES) >= 25
    assert len({c.name for c in CITIES}) == len(CITIES)
    for city in CITIES:
        assert geo.point(city.lon, city.lat).startswith("SRID=4326;POINT(")
        assert len(city.country) == 2 and city.country.isupper()
    # Both hemispheres both ways, and enough |lon| > 90 that swapping is caught.
    assert min(c.lon for c in CITIES) < -90 and max(c.lon for c in CITIES) > 90
    assert min(c.lat for c in CITIES) < -30 and max(c.lat for c in CITIES) > 60


# -- end to end: a seed revision writing Point and Polygon columns --------------------
SCHEMA_STORES = """
from geoalchemy2 import Geometry


def upgrade() -> None:
    op.create_table(
        "stores",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False, unique=True),
        sa.Column("location", Geometry("POINT", srid=4326, spatial_index=False), nullable=False),
        sa.Column(
            "service_area", Geometry("POLYGON", srid=4326, spatial_index=False), nullable=False
        ),
    )


def downgrade() -> None:
    op.drop_table("stores")
"""


def seed_stores(bad_row: str = "") -> str:
    """A seed revision placing a store near each of 8 cities; ``bad_row`` edits ``rows``."""
    return f"""
from geoalchemy2 import Geometry

from app.seeds.cities import CITIES
from seeds import geo

_meta = sa.MetaData()
stores = sa.Table(
    "stores", _meta,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False, unique=True),
    sa.Column("location", Geometry("POINT", srid=4326, spatial_index=False), nullable=False),
    sa.Column("service_area", Geometry("POLYGON", srid=4326, spatial_index=False),
              nullable=False),
)


@seed(environments=["testing"], tables=[stores])
def upgrade(ctx: SeedContext) -> None:
    rows = []
    for n, city in enumerate(CITIES[:8]):
        rnd = ctx.random("stores", city.name)
        lon, lat = geo.offset(city.lon, city.lat, rnd.uniform(-3000, 3000),
                              rnd.uniform(-3000, 3000))
        rows.append({{
            "name": city.name,
            # Every other row gives a (lon, lat) tuple: validation makes it EWKT.
            "location": (lon, lat) if n % 2 else geo.point(lon, lat),
            "service_area": geo.metre_buffer(lon, lat, 500 + 250 * n),
        }})
    {bad_row}
    ctx.insert(stores, rows)


downgrade = upgrade.downgrade
"""


@pytest.fixture
def project(tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch) -> SeedProject:
    return SeedProject(tmp_path / "proj", database_url, monkeypatch)


def store_facts(engine: sa.Engine) -> list[tuple[Any, ...]]:
    query = sa.text(
        "SELECT name, ST_SRID(location), GeometryType(location), ST_SRID(service_area),"
        " GeometryType(service_area), ST_IsValid(service_area),"
        " ST_Contains(service_area, location) FROM stores ORDER BY id"
    )
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(query)]


def test_seed_revision_writes_points_and_metre_buffers_and_undoes_them(
    project: SeedProject, engine: sa.Engine, caplog: pytest.LogCaptureFixture
) -> None:
    project.revision("s1", SCHEMA_STORES)
    project.revision("s2", seed_stores())
    project.upgrade("s1")
    with engine.begin() as conn:  # an application row: the undo must be a keyed delete
        conn.execute(
            sa.text(
                "INSERT INTO stores (name, location, service_area) VALUES"
                " ('app', ST_GeomFromEWKT(:p), ST_Buffer(ST_GeomFromEWKT(:p), 0.01))"
            ),
            {"p": geo.point(2.35, 48.85)},
        )
    project.upgrade("head")

    facts = store_facts(engine)
    assert [f[0] for f in facts] == ["app", *(c.name for c in CITIES[:8])]
    assert {f[1:] for f in facts[1:]} == {(4326, "POINT", 4326, "POLYGON", True, True)}
    frozen = sa.Table("stores", sa.MetaData(), autoload_with=engine)
    with engine.connect() as conn:
        berlin = conn.execute(sa.select(frozen).where(frozen.c.name == "Berlin")).one()
        radius = conn.scalar(
            sa.select(sa.func.ST_Area(geography(frozen.c.service_area))).where(
                frozen.c.name == "Berlin"
            )
        )
        [first] = ledger.Ledger.on(conn).history()
    assert berlin.location.srid == 4326 and berlin.service_area.srid == 4326
    assert to_shape(berlin.location).distance(shapely.Point(*BERLIN)) < 0.05  # within ~4 km
    assert to_shape(berlin.service_area).geom_type == "Polygon"
    assert radius == pytest.approx(math.pi * 500**2, rel=0.02)
    assert first.row_counts == {"stores": 8}

    caplog.clear()
    with caplog.at_level(logging.WARNING):
        project.downgrade("s1")
    assert [r[1] for r in rows(engine, "stores")] == ["app"]
    assert not [r for r in caplog.records if "changed since" in r.getMessage()]

    project.upgrade("head")
    assert store_facts(engine) == facts
    with engine.connect() as conn:
        runs = ledger.Ledger.on(conn).history()
    assert [r.status for r in runs] == ["undone", "applied"]
    assert runs[0].data_checksum == runs[1].data_checksum
    assert len(runs[1].data_checksum) == 64


def test_a_changed_seeded_geometry_is_noticed_by_the_undo(
    project: SeedProject, engine: sa.Engine, caplog: pytest.LogCaptureFixture
) -> None:
    project.revision("s1", SCHEMA_STORES)
    project.revision("s2", seed_stores())
    project.upgrade("head")
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "UPDATE stores SET service_area = ST_Translate(service_area, 0.001, 0)"
                " WHERE name = :name"
            ),
            {"name": "Berlin"},
        )
    with caplog.at_level(logging.WARNING):
        project.downgrade("s1")
    assert any(
        "changed since they were seeded (stores: 1)" in r.getMessage() for r in caplog.records
    )
    assert rows(engine, "stores") == []


def test_a_wrong_srid_row_stops_the_seed_and_names_row_and_column(
    project: SeedProject, engine: sa.Engine
) -> None:
    project.revision("s1", SCHEMA_STORES)
    project.revision("s2", seed_stores('rows[1]["location"] = "SRID=3857;POINT(1491607 6894384)"'))
    with pytest.raises(CommandError) as info:
        project.upgrade("head")
    assert (
        "seed s2: table stores row 1 column location: expects SRID 4326, got 3857; "
        "reproject or pass srid=4326"
    ) in str(info.value)
    assert rows(engine, "stores") == []
    assert version(engine) == "s1"


def test_offline_sql_renders_the_geometry_seed_the_same_every_time(project: SeedProject) -> None:
    project.revision("s1", SCHEMA_STORES)
    project.revision("s2", seed_stores())
    env = {
        "DATABASE_URL": "postgresql://nowhere.invalid/db",
        "APP_ENV": "testing",
        # The seed borrows the reference app's cities; the app is never installed.
        "PYTHONPATH": str(PROJECT_ROOT),
    }
    first = run_cli("alembic", "upgrade", "head", "--sql", env=env, cwd=project.root)
    second = run_cli("alembic", "upgrade", "head", "--sql", env=env, cwd=project.root)
    assert first.returncode == 0, first.stdout + first.stderr
    assert first.stdout == second.stdout
    assert "ST_GeomFromEWKT('SRID=4326;POINT(" in first.stdout
    assert "CAST(ST_Buffer(CAST(ST_SetSRID(ST_MakePoint(" in first.stdout


def test_copy_takes_point_and_coerce_output_as_they_are(
    project: SeedProject, engine: sa.Engine
) -> None:
    project.revision("s1", SCHEMA_STORES)
    project.revision(
        "s2",
        seed_stores()
        .replace(
            "    ctx.insert(stores, rows)",
            """    keys = ctx.reserve_keys(stores, 2)
    ctx.bulk(stores, ["id", "name", "location", "service_area"], [
        (keys[0], "copy-ewkt", geo.point(13.405, 52.52),
         geo.coerce("POLYGON((13 52, 14 52, 14 53, 13 52))", srid=4326,
                    geometry_type="POLYGON")),
        (keys[1], "copy-hex", geo.coerce(geo_wkb, srid=4326, geometry_type="POINT"),
         "SRID=4326;POLYGON((13 52, 14 52, 14 53, 13 52))"),
    ])""",
        )
        .replace(
            "from seeds import geo\n",
            "from seeds import geo\n\n"
            "geo_wkb = '0101000000CDCCCCCCCCCC2A40C3F5285C8F424A40'  # WKB POINT(13.4 52.52)\n",
        ),
    )
    project.upgrade("head")
    with engine.connect() as conn:
        stored = conn.execute(
            sa.text("SELECT name, ST_AsEWKT(location) FROM stores ORDER BY id")
        ).all()
    assert [tuple(r) for r in stored] == [
        ("copy-ewkt", "SRID=4326;POINT(13.405 52.52)"),
        ("copy-hex", "SRID=4326;POINT(13.4 52.52)"),
    ]
    project.downgrade("s1")
    assert rows(engine, "stores") == []


# -- the reference app's stores() on both of its paths ---------------------------------
SCHEMA_APP_STORES = SCHEMA_STORES.replace(
    'sa.Column("name", sa.String(200), nullable=False, unique=True),',
    'sa.Column("name", sa.String(200), nullable=False, unique=True),\n'
    '        sa.Column("city", sa.String(100), nullable=False),',
)

SEED_APP_STORES = """
from geoalchemy2 import Geometry

from app.seeds import development

_meta = sa.MetaData()
stores = sa.Table(
    "stores", _meta,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False, unique=True),
    sa.Column("city", sa.String(100), nullable=False),
    sa.Column("location", Geometry("POINT", srid=4326, spatial_index=False), nullable=False),
    sa.Column("service_area", Geometry("POLYGON", srid=4326, spatial_index=False),
              nullable=False),
)


@seed(environments=["testing"], tables=[stores])
def upgrade(ctx: SeedContext) -> None:
    development.stores(ctx, ctx.tables)


downgrade = upgrade.downgrade
"""


def test_offline_sql_renders_the_app_stores_as_inserts(project: SeedProject) -> None:
    # --sql can neither COPY nor reserve keys: stores() falls back to inserts whose
    # service areas are SQL, the same text every time.
    project.revision("s1", SCHEMA_APP_STORES)
    project.revision("s2", SEED_APP_STORES)
    env = {
        "DATABASE_URL": "postgresql://nowhere.invalid/db",
        "APP_ENV": "testing",
        "PYTHONPATH": str(PROJECT_ROOT),
    }
    first = run_cli(
        "alembic", "-x", "stores=7", "upgrade", "head", "--sql", env=env, cwd=project.root
    )
    second = run_cli(
        "alembic", "-x", "stores=7", "upgrade", "head", "--sql", env=env, cwd=project.root
    )
    assert first.returncode == 0, first.stdout + first.stderr
    assert first.stdout == second.stdout
    assert first.stdout.count("CAST(ST_Buffer(CAST(ST_SetSRID(ST_MakePoint(") == 7
    assert "COPY" not in first.stdout
    assert "'Berlin #1'" in first.stdout and "'Madrid #1'" in first.stdout
