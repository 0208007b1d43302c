"""How the environment, the database URL and the schema are resolved, and what is refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from seeds.errors import ConfigurationError, EnvironmentNotDeclared, UnknownEnvironment
from seeds.runtime.database import normalise_url, resolve_target, validate_schema
from seeds.runtime.environment import Environment, resolve_environment
from seeds.runtime.parameters import Parameters
from seeds.runtime.project import AppConfig, resolve_run


def test_x_env_wins_over_app_env() -> None:
    env = resolve_environment({"env": "staging"}, {"APP_ENV": "production"}, local_devdb=False)
    assert env is Environment.STAGING


def test_app_env_used_without_x_env() -> None:
    env = resolve_environment({}, {"APP_ENV": "Production"}, local_devdb=False)
    assert env is Environment.PRODUCTION


def test_local_devdb_defaults_to_development() -> None:
    assert resolve_environment({}, {}, local_devdb=True) is Environment.DEVELOPMENT


def test_named_database_without_environment_fails_closed() -> None:
    with pytest.raises(EnvironmentNotDeclared, match="no environment is declared"):
        resolve_environment({}, {}, local_devdb=False)


@pytest.mark.parametrize(
    ("x_args", "environ", "source"),
    [
        ({"env": "prod"}, {}, "-x env"),
        ({}, {"APP_ENV": "dev"}, "APP_ENV"),
    ],
)
def test_unknown_environment_lists_valid_names(
    x_args: dict[str, str], environ: dict[str, str], source: str
) -> None:
    with pytest.raises(UnknownEnvironment) as info:
        resolve_environment(x_args, environ, local_devdb=True)
    message = str(info.value)
    assert source in message
    for name in ("production", "staging", "development", "testing"):
        assert name in message


@pytest.mark.parametrize(
    "raw",
    [
        "postgres://u:p@db.example:5433/app",
        "postgresql://u:p@db.example:5433/app",
    ],
)
def test_driverless_urls_mean_psycopg3(raw: str) -> None:
    url = normalise_url(raw)
    assert url.drivername == "postgresql+psycopg"
    assert (url.host, url.port, url.database, url.password) == ("db.example", 5433, "app", "p")


def test_explicit_driver_is_kept() -> None:
    assert normalise_url("sqlite:///x.db").drivername == "sqlite"


def test_garbage_url_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="not a database URL"):
        normalise_url("not a url")


@pytest.mark.parametrize("name", ["tenant_1", 'we"ird; DROP TABLE users; --', "with space"])
def test_odd_schema_names_are_accepted_as_identifiers(name: str) -> None:
    assert validate_schema(name) == name


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("", "empty"),
        ("a\x00b", "NUL"),
        ("x" * 64, "63 bytes"),
    ],
)
def test_schema_names_postgres_refuses_are_refused(name: str, reason: str) -> None:
    with pytest.raises(ConfigurationError, match=reason):
        validate_schema(name)


def test_x_schema_wins_over_schema_variable(tmp_path: Path) -> None:
    target = resolve_target(
        {"schema": "from_x"},
        {"SCHEMA": "from_env", "DATABASE_URL": "postgresql://h/db"},
        tmp_path,
    )
    assert target.schema == "from_x"
    assert not target.local_devdb


FLASK = AppConfig(database_url="postgresql://app-host/appdb", environment="staging")


def test_database_url_wins_over_the_app_database(tmp_path: Path) -> None:
    environ = {"DATABASE_URL": "postgresql://env-host/envdb", "APP_ENV": "testing"}
    target, env = resolve_run({}, environ, tmp_path, offline=True, app=FLASK)
    assert (target.url.host, target.local_devdb, env) == ("env-host", False, Environment.TESTING)


def test_app_database_and_environment_fill_the_gaps(tmp_path: Path) -> None:
    target, env = resolve_run({}, {}, tmp_path, offline=True, app=FLASK)
    assert target.url.drivername == "postgresql+psycopg"
    assert (target.url.host, target.local_devdb, env) == ("app-host", False, Environment.STAGING)


@pytest.mark.parametrize(
    ("x_args", "environ", "expected"),
    [
        ({"env": "testing"}, {"APP_ENV": "production"}, Environment.TESTING),
        ({}, {"APP_ENV": "production"}, Environment.PRODUCTION),
        ({}, {}, Environment.STAGING),
    ],
)
def test_x_env_then_app_env_then_the_apps_own(
    tmp_path: Path, x_args: dict[str, str], environ: dict[str, str], expected: Environment
) -> None:
    assert resolve_run(x_args, environ, tmp_path, offline=True, app=FLASK)[1] is expected


def test_without_an_app_the_local_database_is_development(tmp_path: Path) -> None:
    target, env = resolve_run({}, {}, tmp_path, offline=True)
    assert (target.local_devdb, env) == (True, Environment.DEVELOPMENT)
    target, env = resolve_run({}, {}, tmp_path, offline=True, app=AppConfig())
    assert (target.local_devdb, env) == (True, Environment.DEVELOPMENT)


def test_app_database_without_an_environment_fails_closed(tmp_path: Path) -> None:
    app = AppConfig(database_url="postgresql://app-host/appdb")
    with pytest.raises(EnvironmentNotDeclared, match="SQLALCHEMY_DATABASE_URI names the database"):
        resolve_run({}, {}, tmp_path, offline=True, app=app)


def test_bad_app_database_url_names_its_source(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="SQLALCHEMY_DATABASE_URI is not a database URL"):
        resolve_run({}, {}, tmp_path, offline=True, app=AppConfig(database_url="nonsense"))


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("postgresql://app@db:notaport/shop", "is not a database URL"),
        ("mysql://app@db/shop", "names a mysql database; Seedchain runs on PostgreSQL"),
    ],
)
def test_urls_seedchain_cannot_use_are_one_line(raw: str, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        normalise_url(raw)


@pytest.mark.parametrize(
    "value", ["99999999999999999999999", "-1", "1e9", "1; drop table users", ""]
)
def test_seed_values_the_ledger_cannot_keep_are_refused(value: str) -> None:
    with pytest.raises(ConfigurationError, match=r"-x seed=.* is not a whole number from 0"):
        Parameters.from_x_args({"seed": value})
