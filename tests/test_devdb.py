"""Tests for seeds.dev.devdb against a real PostgreSQL + PostGIS server (no database mocks)."""

from __future__ import annotations

import dataclasses
import logging
import os
import pwd
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from seeds.dev import devdb as devdb_module
from seeds.dev.devdb import DevDB, DevDBStatus, project_database_name
from seeds.errors import DevDBError

root_only = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (runs the server as postgres)")


def _scalar(url: str, query: str, **params: Any) -> Any:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(sa.text(query), params).scalar_one()
    finally:
        engine.dispose()  # no pooled connections left to block stop/template copies


def _execute(url: str, statement: str) -> None:
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text(statement))
    finally:
        engine.dispose()


def _server_uid() -> int:
    return pwd.getpwnam("postgres").pw_uid if os.geteuid() == 0 else os.geteuid()


def _as_other_user(*argv: str, password: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run a command as ``nobody``: any other OS user of the machine."""
    env = {"PATH": "/usr/bin:/bin", "LC_ALL": "C.UTF-8", "PGCONNECT_TIMEOUT": "5"}
    if password is not None:
        env["PGPASSWORD"] = password
    runuser = shutil.which("runuser")  # util-linux; in /usr/sbin, not on the PATH below
    assert runuser is not None, "runuser is needed to act as another OS user"
    cmd = [runuser, "-u", "nobody", "--", *argv]
    return subprocess.run(cmd, cwd="/", env=env, capture_output=True, text=True, timeout=60)


def _psql_as_other_user(
    db: DevDB, host: str, password: str | None = None
) -> subprocess.CompletedProcess[str]:
    port = str(db.status().port)
    # -w: never prompt; -X: no ~/.psqlrc.
    args = ["-X", "-w", "-h", host, "-p", port, "-U", "postgres", "-d", db.dbname]
    return _as_other_user(db._bin("psql"), *args, "-c", "SELECT 1", password=password)


def _wait_until_stopped(db: DevDB, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while db.status().running:
        assert time.monotonic() < deadline, "server did not go away"
        time.sleep(0.02)


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevDB]:
    """One cluster shared by the module (initdb + PostGIS once)."""
    devdb = DevDB(tmp_path_factory.mktemp("devdb") / "proj")
    try:
        yield devdb
    finally:
        try:
            devdb.stop()
        finally:
            cluster = devdb.status().data_dir.parent
            if cluster != devdb.state_dir:  # the /var/tmp fallback lives outside tmp_path
                shutil.rmtree(cluster, ignore_errors=True)


@pytest.fixture
def url(db: DevDB) -> str:
    """Make sure the shared cluster runs (cheap when it already does)."""
    return db.start()


def test_start_returns_url_that_connects(db: DevDB, url: str) -> None:
    # Named after the project (its folder here: it has no pyproject.toml).
    assert url.startswith("postgresql+psycopg://postgres@/proj?host=")
    assert _scalar(url, "SELECT postgis_version()").startswith("3.")
    assert _scalar(url, "SELECT current_database()") == "proj"
    socket_dir = make_url(url).query["host"]
    assert socket_dir == str(db.status().data_dir.parent / "run")


@root_only
def test_private_project_parent_falls_back_to_var_tmp(db: DevDB, url: str) -> None:
    # tmp_path lives under /tmp/pytest-of-root (0700), which the postgres user cannot enter.
    data_dir = db.status().data_dir
    assert data_dir.parent.parent == Path("/var/tmp")
    assert data_dir.parent.name.startswith(f"seedchain-devdb-{os.geteuid()}-")
    assert (db.state_dir / "location").read_text().strip() == str(data_dir.parent)
    st = data_dir.parent.stat()
    assert stat.S_IMODE(st.st_mode) == 0o700
    assert st.st_uid == pwd.getpwnam("postgres").pw_uid


@root_only
def test_reachable_project_keeps_cluster_in_project(tmp_path: Path) -> None:
    # Decision only (no initdb): a world-traversable project keeps root/.devdb.
    base = Path(tempfile.mkdtemp(dir="/var/tmp", prefix="seedchain-test-"))
    try:
        base.chmod(0o755)
        db = DevDB(base / "proj")
        assert db._make_cluster_dir() == db.state_dir
        assert not (db.state_dir / "location").exists()
        assert db.state_dir.stat().st_uid == pwd.getpwnam("postgres").pw_uid
    finally:
        shutil.rmtree(base)


def test_start_when_running_is_a_fast_noop(
    db: DevDB, url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    pid = db.status().pid

    def forbidden(*args: object, **kwargs: object) -> None:
        raise AssertionError("start() of a running server must not install or run anything")

    monkeypatch.setattr(db, "install", forbidden)
    monkeypatch.setattr(subprocess, "run", forbidden)
    t0 = time.monotonic()
    assert db.start() == url
    assert time.monotonic() - t0 < 1
    assert db.status().pid == pid


def test_status_fields(db: DevDB, url: str) -> None:
    status = db.status()
    assert isinstance(status, DevDBStatus)
    assert status.running is True
    assert status.pid is not None
    assert Path(f"/proc/{status.pid}/comm").read_text().strip() == "postgres"
    assert (status.data_dir / "PG_VERSION").is_file()
    assert str(status.port) == make_url(url).query["port"]
    assert status.url == url == db.url()
    with pytest.raises(dataclasses.FrozenInstanceError):
        status.running = False  # type: ignore[misc]


def test_server_settings(db: DevDB, url: str) -> None:
    assert _scalar(url, "SHOW listen_addresses") == ""  # the Unix socket only
    assert _scalar(url, "SHOW fsync") == "off"
    assert _scalar(url, "SHOW synchronous_commit") == "off"
    assert _scalar(url, "SHOW full_page_writes") == "off"
    assert _scalar(url, "SHOW server_encoding") == "UTF8"
    assert _scalar(url, "SHOW lc_collate") == "C"
    assert _scalar(url, "SHOW TimeZone") == "UTC"
    assert _scalar(url, "SELECT current_user") == "postgres"
    # Nothing listens on TCP, not even on 127.0.0.1.
    port = db.status().port
    with pytest.raises(sa.exc.OperationalError, match="refused"):
        _scalar(f"postgresql+psycopg://postgres@127.0.0.1:{port}/proj", "SELECT 1")
    assert (db.status().data_dir.parent / "server.log").stat().st_size > 0


def test_create_and_drop_database_with_awkward_name(db: DevDB, url: str) -> None:
    name = 'seed "copy" it\'s; DROP'
    db.create_database(name, template=db.dbname)
    try:
        other = db.url(name)
        assert make_url(other).database == name
        assert _scalar(other, "SELECT current_database()") == name
        assert _scalar(other, "SELECT postgis_version()").startswith("3.")  # from the template
        with pytest.raises(DevDBError, match="could not create database"):
            db.create_database(name)
    finally:
        db.drop_database(name)
    query = "SELECT count(*) FROM pg_database WHERE datname = :n"
    assert _scalar(url, query, n=name) == 0
    db.drop_database(name)  # IF EXISTS: no error the second time


def test_drop_database_disconnects_sessions(db: DevDB, url: str) -> None:
    db.create_database("busy db")
    engine = sa.create_engine(db.url("busy db"))
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
            db.drop_database("busy db")  # WITH (FORCE) despite the open session
    except sa.exc.OperationalError:
        pass  # our own session was terminated, as intended
    finally:
        engine.dispose()
    assert _scalar(url, "SELECT count(*) FROM pg_database WHERE datname = 'busy db'") == 0


def test_stop_returns_true_then_false(db: DevDB, url: str) -> None:
    assert db.stop() is True
    status = db.status()
    assert (status.running, status.pid) == (False, None)
    assert status.port is not None and status.url == url  # configuration is kept
    assert db.stop() is False
    assert db.start() == url  # restart on the same port


def test_recovers_after_postmaster_is_killed(db: DevDB, url: str) -> None:
    old_pid = db.status().pid
    assert old_pid is not None
    os.kill(old_pid, signal.SIGKILL)
    _wait_until_stopped(db)
    assert (db.status().data_dir / "postmaster.pid").exists()  # stale lock file left behind
    assert db.start() == url
    assert db.status().pid not in (None, old_pid)
    assert _scalar(url, "SELECT postgis_version()").startswith("3.")


def test_failed_start_reports_the_server_log(db: DevDB, url: str) -> None:
    db.stop()
    conf = db.status().data_dir / "postgresql.conf"  # seedchain.conf is rewritten at start
    good = conf.read_text()
    conf.write_text(good + "shared_buffers = 'plenty'\n")
    try:
        with pytest.raises(DevDBError, match="(?s)did not start.*server.log.*shared_buffers"):
            db.start()
    finally:
        conf.write_text(good)
    assert db.start() == url


@pytest.fixture(scope="module")
def long_db() -> Iterator[DevDB]:
    """A cluster in its project folder, whose path is too long for a Unix socket."""
    # A world-traversable base, so root keeps the cluster in the project, not in /var/tmp.
    base = Path(tempfile.mkdtemp(dir="/var/tmp", prefix="seedchain-test-"))
    base.chmod(0o755)
    db = DevDB(base / ("long-" * 12) / "proj")
    short = db._socket_candidate()
    assert short is not None and short.parent == Path("/tmp")
    try:
        yield db
    finally:
        try:
            db.stop()
        finally:
            shutil.rmtree(base)
            if short.is_symlink():
                short.unlink()
            shutil.rmtree(short, ignore_errors=True)


@pytest.fixture
def socket_url(long_db: DevDB) -> str:
    """The long-path cluster, on its short socket folder in /tmp."""
    short = long_db._socket_candidate()
    assert short is not None
    if short.is_symlink():
        long_db.stop()
        short.unlink()
    return long_db.start()


def _take_socket_folder(db: DevDB) -> None:
    """Somebody else takes the name of the cluster's short socket folder first."""
    short = db._socket_candidate()
    assert short is not None
    if not short.is_symlink():
        db.stop()
        shutil.rmtree(short, ignore_errors=True)
        short.symlink_to("/nonexistent")


@pytest.fixture
def tcp_url(long_db: DevDB) -> str:
    """The long-path cluster on TCP, for its socket folder's name was taken."""
    _take_socket_folder(long_db)
    return long_db.start()


def test_long_project_path_gets_a_short_private_socket_folder(
    long_db: DevDB, socket_url: str
) -> None:
    assert long_db.status().data_dir == long_db.state_dir / "data"
    short = Path(str(make_url(socket_url).query["host"]))
    assert short == Path("/tmp") / short.name
    assert short.name.startswith(f"seedchain-socket-{os.geteuid()}-")
    st = short.lstat()
    assert stat.S_ISDIR(st.st_mode)
    assert (stat.S_IMODE(st.st_mode), st.st_uid) == (0o700, _server_uid())
    assert _scalar(socket_url, "SHOW listen_addresses") == ""
    assert _scalar(socket_url, "SHOW unix_socket_directories") == str(short)
    assert _scalar(socket_url, "SELECT postgis_version()").startswith("3.")


def test_taken_socket_folder_falls_back_to_tcp_with_a_password(
    long_db: DevDB, socket_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="seeds.dev.devdb"):
        _take_socket_folder(long_db)
        url = long_db.start()
    assert "is another OS user's; listening on 127.0.0.1 (password only)" in caplog.text
    secret = long_db.status().data_dir.parent / "password"
    st = secret.stat()
    assert (stat.S_IMODE(st.st_mode), st.st_uid) == (0o600, _server_uid())
    password = secret.read_text().strip()
    assert len(password) >= 40  # secrets.token_urlsafe(32)
    port = long_db.status().port
    assert url == f"postgresql+psycopg://postgres:{password}@127.0.0.1:{port}/proj"
    assert long_db.url() == url == long_db.status().url
    assert _scalar(url, "SHOW listen_addresses") == "127.0.0.1"
    assert _scalar(url, "SHOW unix_socket_directories") == ""
    assert _scalar(url, "SELECT postgis_version()").startswith("3.")
    # The password is required, even from root: no trust for TCP.
    hba = (long_db.status().data_dir / "pg_hba.conf").read_text().splitlines()
    assert [line.split()[-1] for line in hba if line.startswith("host")] == ["scram-sha-256"]
    with pytest.raises(sa.exc.OperationalError, match="no password supplied"):
        _scalar(f"postgresql+psycopg://postgres@127.0.0.1:{port}/proj", "SELECT 1")
    with pytest.raises(sa.exc.OperationalError, match="password authentication failed"):
        _scalar(f"postgresql+psycopg://postgres:guess@127.0.0.1:{port}/proj", "SELECT 1")


def test_moves_to_a_free_port_when_the_stored_one_is_taken(
    long_db: DevDB, tcp_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    db = long_db
    db.stop()
    old_port = db.status().port
    assert old_port is not None
    with socket.socket() as squatter:
        squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        squatter.bind(("127.0.0.1", old_port))
        squatter.listen()
        with caplog.at_level(logging.WARNING, logger="seeds.dev.devdb"):
            new_url = db.start()
    new_port = db.status().port
    assert new_port is not None and new_port != old_port
    assert f"port {old_port} is taken" in caplog.text
    assert make_url(new_url).port == new_port
    assert _scalar(new_url, "SHOW port") == str(new_port)
    assert DevDB(db.root).status().port == new_port  # persisted for later processes


def test_socket_port_is_kept_when_tcp_has_it(db: DevDB, url: str) -> None:
    # On the socket the port only names the socket file: TCP squatters do not matter.
    db.stop()
    port = db.status().port
    assert port is not None
    with socket.socket() as squatter:
        squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        squatter.bind(("127.0.0.1", port))
        squatter.listen()
        assert db.start() == url
    assert _scalar(url, "SHOW port") == str(port)


@root_only
def test_socket_folder_of_another_user_is_never_used() -> None:
    # Decision only (no initdb): a folder of nobody's where ours would go is left alone.
    base = Path(tempfile.mkdtemp(dir="/var/tmp", prefix="seedchain-test-"))
    base.chmod(0o755)
    db = DevDB(base / ("long-" * 12) / "proj")
    short = db._socket_candidate()
    assert short is not None
    nobody = pwd.getpwnam("nobody")
    short.mkdir()
    try:
        os.chown(short, nobody.pw_uid, nobody.pw_gid)
        short.chmod(0o777)
        assert db._claim_socket_dir() == "127.0.0.1"
        st = short.lstat()
        assert (st.st_uid, stat.S_IMODE(st.st_mode)) == (nobody.pw_uid, 0o777)
    finally:
        short.rmdir()
        shutil.rmtree(base)


@root_only
@pytest.mark.parametrize(
    ("cluster", "running"),
    [("db", "url"), ("long_db", "socket_url")],
    ids=["socket in the cluster folder", "socket in /tmp"],
)
def test_other_os_users_cannot_connect_over_the_socket(
    cluster: str, running: str, request: pytest.FixtureRequest
) -> None:
    db: DevDB = request.getfixturevalue(cluster)
    url: str = request.getfixturevalue(running)
    assert _scalar(url, "SELECT 1") == 1  # it runs: the refusals below are not a dead server
    folder = make_url(url).query["host"]
    assert isinstance(folder, str)
    st = Path(folder).stat()
    assert (stat.S_IMODE(st.st_mode), st.st_uid) == (0o700, _server_uid())
    res = _psql_as_other_user(db, folder)
    assert res.returncode != 0
    assert f'socket "{folder}/.s.PGSQL.{db.status().port}" failed: Permission denied' in res.stderr
    res = _psql_as_other_user(db, "127.0.0.1")  # nor over TCP: nothing listens
    assert res.returncode != 0
    assert "Connection refused" in res.stderr


@root_only
def test_other_os_users_cannot_connect_over_tcp(long_db: DevDB, tcp_url: str) -> None:
    assert _scalar(tcp_url, "SELECT 1") == 1  # it runs: the refusals below are not a dead server
    res = _psql_as_other_user(long_db, "127.0.0.1")
    assert res.returncode != 0
    assert "no password supplied" in res.stderr
    res = _psql_as_other_user(long_db, "127.0.0.1", password="guess")
    assert res.returncode != 0
    assert 'password authentication failed for user "postgres"' in res.stderr
    secret = long_db.status().data_dir.parent / "password"
    res = _as_other_user("cat", str(secret))
    assert res.returncode != 0
    assert "Permission denied" in res.stderr
    # Only the password lets anyone in: it is what keeps them out.
    password = make_url(tcp_url).password
    assert password is not None
    assert _psql_as_other_user(long_db, "127.0.0.1", password=password).returncode == 0


# What an older version wrote: TCP with trust (alongside the socket when its path fit).
_OLD_HBA = (
    "# seeds.dev.devdb: local development cluster only\n"
    "local all all trust\nhost  all all 127.0.0.1/32 trust\n"
)


def test_older_versions_cluster_is_closed_on_next_start_and_keeps_its_data(
    long_db: DevDB, socket_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    db = long_db
    db.create_database("kept")
    try:
        _execute(db.url("kept"), "CREATE TABLE t AS SELECT 42 AS x")
        _execute(socket_url, "ALTER ROLE postgres PASSWORD NULL")
        db.stop()
        # The cluster as an older version left it (its path too long for a socket: TCP
        # only), running: no password, trust on 127.0.0.1.
        status = db.status()
        data, cluster, port = status.data_dir, status.data_dir.parent, status.port
        (data / "pg_hba.conf").write_text(_OLD_HBA)
        (data / "seedchain.conf").write_text(
            f"listen_addresses = '127.0.0.1'\nport = {port}\nunix_socket_directories = ''\n"
        )
        (cluster / "host").unlink()
        (cluster / "password").unlink()
        assert db._pg_ctl("start", "-l", str(cluster / "server.log")).returncode == 0
        old_url = f"postgresql+psycopg://postgres@127.0.0.1:{port}/kept"
        assert _scalar(old_url, "SELECT x FROM t") == 42  # open to every local user

        with caplog.at_level(logging.INFO, logger="seeds.dev.devdb"):
            assert db.start() == socket_url
        assert "to apply this version's settings" in caplog.text
        assert "giving the superuser a password" in caplog.text
        assert _scalar(db.url("kept"), "SELECT x FROM t") == 42
        assert _scalar(socket_url, "SHOW listen_addresses") == ""
        with pytest.raises(sa.exc.OperationalError, match="refused"):
            _scalar(old_url, "SELECT 1")
        assert (data / "pg_hba.conf").read_text() == devdb_module._HBA
        st = (cluster / "password").stat()
        assert (stat.S_IMODE(st.st_mode), st.st_uid) == (0o600, _server_uid())
        query = "SELECT rolpassword FROM pg_authid WHERE rolname = 'postgres'"
        assert _scalar(socket_url, query).startswith("SCRAM-SHA-256$")
        # The password it was given is the one on file: TCP takes it.
        _take_socket_folder(db)
        db.start()
        assert _scalar(db.url("kept"), "SELECT x FROM t") == 42
    finally:
        db.drop_database("kept")


def test_url_before_init_raises(tmp_path: Path) -> None:
    db = DevDB(tmp_path / "never")
    with pytest.raises(DevDBError, match="seeds devdb start"):
        db.url()
    status = db.status()
    assert (status.running, status.pid, status.port, status.url) == (False, None, None, None)
    assert db.stop() is False


# -- packages (fake install trees; apt-get itself is never run) -----------------------


class FakeApt:
    """Stands in for DevDB._apt: records calls and 'installs' into the fake trees."""

    def __init__(self, lib: Path, share: Path, default_major: str = "15") -> None:
        self.lib, self.share, self.default_major = lib, share, default_major
        self.calls: list[list[str]] = []

    def __call__(self, apt_get: str, args: list[str]) -> None:
        self.calls.append(args)
        for package in args[3:] if args[0] == "install" else []:
            if package == "postgresql":
                _fake_server(self.lib, self.default_major)
            elif package.endswith("-postgis-3"):
                _fake_postgis(self.share, package.split("-")[1])


def _fake_server(lib: Path, major: str) -> None:
    (lib / major / "bin").mkdir(parents=True, exist_ok=True)
    for name in ("pg_ctl", "initdb"):
        (lib / major / "bin" / name).touch()


def _fake_postgis(share: Path, major: str) -> None:
    (share / major / "extension").mkdir(parents=True, exist_ok=True)
    (share / major / "extension" / "postgis.control").touch()


@pytest.fixture
def fake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[DevDB, FakeApt]:
    lib, share = tmp_path / "lib", tmp_path / "share"
    lib.mkdir()
    share.mkdir()
    db = DevDB(tmp_path / "proj", pg_lib_dir=lib, pg_share_dir=share)
    apt = FakeApt(lib, share)
    monkeypatch.setattr(db, "_apt", apt)
    monkeypatch.setattr(devdb_module, "_apt_get", lambda: "/usr/bin/apt-get")
    monkeypatch.setattr(devdb_module, "_is_root", lambda: True)
    return db, apt


INSTALL = ["install", "-y", "--no-install-recommends"]


def test_packages_present_installs_nothing(fake: tuple[DevDB, FakeApt]) -> None:
    db, apt = fake
    _fake_server(apt.lib, "15")
    _fake_postgis(apt.share, "15")
    assert db.install() == []
    assert apt.calls == []


def test_start_never_installs_and_names_the_install_command(fake: tuple[DevDB, FakeApt]) -> None:
    # Root with apt-get at hand, so start() could install: it must not.
    db, apt = fake
    with pytest.raises(DevDBError) as err:
        db.start()
    message = str(err.value)
    assert "\n" not in message
    assert "missing postgresql" in message
    assert "run `seeds devdb install` (scripts/bootstrap runs it)" in message
    _fake_server(apt.lib, "16")  # a server but no PostGIS: still refused, still nothing run
    with pytest.raises(DevDBError, match=r"missing postgresql-16-postgis-3\); run `seeds devdb"):
        db.start()
    assert apt.calls == []
    assert not db.state_dir.exists()  # refused before creating anything


def test_installs_postgis_for_the_highest_major(
    fake: tuple[DevDB, FakeApt], caplog: pytest.LogCaptureFixture
) -> None:
    db, apt = fake
    for major in ("9.6", "15", "16"):
        _fake_server(apt.lib, major)
    _fake_postgis(apt.share, "15")  # PostGIS only for an older major
    with caplog.at_level(logging.WARNING, logger="seeds.dev.devdb"):
        assert db.install() == ["postgresql-16-postgis-3"]
    assert apt.calls == [["update"], [*INSTALL, "postgresql-16-postgis-3"]]
    assert "installing Debian packages postgresql-16-postgis-3" in caplog.text


def test_installs_server_first_then_matching_postgis(
    fake: tuple[DevDB, FakeApt], caplog: pytest.LogCaptureFixture
) -> None:
    db, apt = fake
    with caplog.at_level(logging.WARNING, logger="seeds.dev.devdb"):
        assert db.install() == ["postgresql", "postgresql-15-postgis-3"]
    assert apt.calls == [
        ["update"],
        [*INSTALL, "postgresql"],
        [*INSTALL, "postgresql-15-postgis-3"],
    ]
    assert "installing Debian packages postgresql ..." in caplog.text
    assert "installing Debian packages postgresql-15-postgis-3" in caplog.text


def test_still_missing_after_install_raises(fake: tuple[DevDB, FakeApt]) -> None:
    db, apt = fake
    _fake_server(apt.lib, "15")
    apt.share = apt.share / "elsewhere"  # the "install" lands where we do not look
    with pytest.raises(DevDBError, match="postgresql-15-postgis-3"):
        db.install()


def test_not_root_names_the_sudo_command(
    fake: tuple[DevDB, FakeApt], monkeypatch: pytest.MonkeyPatch
) -> None:
    db, apt = fake
    monkeypatch.setattr(devdb_module, "_is_root", lambda: False)
    _fake_server(apt.lib, "15")
    with pytest.raises(DevDBError) as err:
        db.install()
    assert "sudo apt-get install -y --no-install-recommends postgresql-15-postgis-3" in str(
        err.value
    )
    apt.lib.joinpath("15").rename(apt.lib / "old")  # now no server at all
    with pytest.raises(DevDBError) as err:
        db.install()
    cmd = "sudo apt-get install -y --no-install-recommends postgresql postgresql-postgis"
    assert cmd in str(err.value)
    assert apt.calls == []


def test_no_apt_get_names_the_packages(
    fake: tuple[DevDB, FakeApt], monkeypatch: pytest.MonkeyPatch
) -> None:
    db, apt = fake
    monkeypatch.setattr(devdb_module, "_apt_get", lambda: None)
    _fake_postgis(apt.share, "16")
    _fake_server(apt.lib, "16")
    db.install()  # all there: no apt-get needed
    apt.share.joinpath("16").rename(apt.share / "old")
    with pytest.raises(DevDBError, match="no apt-get.*postgresql-16-postgis-3"):
        db.install()
    assert apt.calls == []


def test_each_project_names_its_local_database_after_itself(tmp_path: Path) -> None:
    named = tmp_path / "blog"
    named.mkdir()
    (named / "pyproject.toml").write_text('[project]\nname = "My-Blog App"\n')
    assert project_database_name(named) == "my_blog_app"
    assert project_database_name(tmp_path / "Shop 2") == "shop_2"  # no pyproject: the folder
    assert DevDB(named).dbname == "my_blog_app"
