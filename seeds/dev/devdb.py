"""A project-local development PostgreSQL + PostGIS cluster (a tiny pg_ctl manager).

The cluster folder is ``<root>/.devdb``, or a ``/var/tmp`` fallback named in
``<root>/.devdb/location`` when the server's OS user cannot reach the project folder.
It holds ``data/`` (PGDATA; our settings in ``data/seedchain.conf`` and
``data/pg_hba.conf``), ``run/`` (the Unix socket's folder when its path is short
enough, else one under ``/tmp``), ``port``, ``host`` (the socket folder, or 127.0.0.1
when no socket folder could be had), ``password`` (the superuser's, for TCP only) and
``server.log``.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import pwd
import re
import secrets
import shutil
import socket
import stat
import subprocess
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import psycopg
from psycopg import sql
from psycopg.rows import TupleRow
from sqlalchemy.engine import URL

from seeds.errors import DevDBError

logger = logging.getLogger(__name__)

SUPERUSER = "postgres"  # database role created by initdb -U
SERVER_OS_USER = "postgres"  # initdb/postgres refuse root, so as root we run them as this user
FALLBACK_BASE = Path("/var/tmp")  # survives reboots, unlike /tmp on many systems
SOCKET_BASE = Path("/tmp")  # short: for socket folders that need not outlive the server
LOOPBACK = "127.0.0.1"
START_TIMEOUT = 60  # seconds pg_ctl waits for the server to start or stop
_SOCKET_PATH_MAX = 100  # sun_path is 108 bytes on Linux; keep a margin
_DRIVER = "postgresql+psycopg"
# The socket's folder is 0700, so only the server's OS user and root reach the socket.
# TCP, only when no socket folder could be had, takes the password and never trust.
_HBA = (
    "# Written by seeds.dev.devdb: the local development cluster only.\n"
    "local all all trust\n"
    "host  all all 127.0.0.1/32 scram-sha-256\n"
)


def _settings(host: str, port: int) -> str:
    """seedchain.conf: the socket only, or (``host`` 127.0.0.1) TCP on loopback only."""
    tcp = host == LOOPBACK
    sockets = "" if tcp else host.replace("'", "''")
    return (
        "# Written by seeds.dev.devdb at each start.\n"
        f"listen_addresses = '{LOOPBACK if tcp else ''}'\n"
        f"port = {port}\nunix_socket_directories = '{sockets}'\nmax_connections = 100\n"
        "# Dev data is disposable: trade crash safety for speed. Never in production.\n"
        "fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n"
        "timezone = 'UTC'  # same timestamp output on every machine\n"
    )


def _socket_fits(folder: Path) -> bool:
    too_long = len(os.fsencode(folder / ".s.PGSQL.65535")) > _SOCKET_PATH_MAX
    # unix_socket_directories is a comma-separated list: such paths cannot be spelt.
    awkward = any(c in str(folder) for c in ",'\"\\")
    return not too_long and not awkward


def project_database_name(root: Path) -> str:
    """The local database's name: the project's ``[project] name`` from pyproject.toml,
    else its folder's name, in lower case with anything but letters and digits as ``_``."""
    name = root.name
    try:
        document = tomllib.loads((root / "pyproject.toml").read_text())
        name = str(document.get("project", {}).get("name") or name)
    except (OSError, tomllib.TOMLDecodeError):
        pass
    cleaned = re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")
    return (cleaned or "app")[:63]


@dataclass(frozen=True)
class DevDBStatus:
    """Snapshot of the cluster; ``port``/``url`` are None only if it was never initialised."""

    running: bool
    pid: int | None
    data_dir: Path
    port: int | None
    url: str | None


def _is_root() -> bool:
    return os.geteuid() == 0


def _apt_get() -> str | None:
    return shutil.which("apt-get")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        # Ignore TIME_WAIT leftovers of our own last server; Linux still refuses the bind
        # while anybody listens on the port, which is what we test for.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


class DevDB:
    """The development cluster of one project.

    Args:
        root: The project folder; the cluster lives in ``root/.devdb``.
        dbname: The application database, created with PostGIS at start; by default
            named after the project (:func:`project_database_name`), so two projects'
            local databases never share a name.
        pg_lib_dir: Where server binaries are installed (``<major>/bin``).
        pg_share_dir: Where extensions are installed (``<major>/extension``).
    """

    def __init__(
        self,
        root: Path,
        dbname: str | None = None,
        *,
        pg_lib_dir: Path = Path("/usr/lib/postgresql"),
        pg_share_dir: Path = Path("/usr/share/postgresql"),
    ) -> None:
        # Resolved so the fallback folder's hash does not depend on how root was spelt.
        self.root = Path(root).resolve()
        self.dbname = dbname or project_database_name(self.root)
        self.state_dir = self.root / ".devdb"
        self._lib = pg_lib_dir
        self._share = pg_share_dir

    @property
    def _cluster_dir(self) -> Path:
        location = self.state_dir / "location"
        return Path(location.read_text().strip()) if location.is_file() else self.state_dir

    @property
    def _data_dir(self) -> Path:
        return self._cluster_dir / "data"

    @property
    def _password_file(self) -> Path:
        return self._cluster_dir / "password"

    def _socket_candidate(self) -> Path | None:
        """The socket's folder: ``run/`` in the cluster folder, else a short one in /tmp."""
        run = self._cluster_dir / "run"
        digest = hashlib.sha256(str(self.root).encode()).hexdigest()[:10]
        short = SOCKET_BASE / f"seedchain-socket-{os.geteuid()}-{digest}"
        return next((d for d in (run, short) if _socket_fits(d)), None)

    def _recorded_host(self) -> str | None:
        try:
            return (self._cluster_dir / "host").read_text().strip() or None
        except OSError:
            return None

    def _host(self) -> str:
        """The socket folder or 127.0.0.1, as the last start chose (else as it will)."""
        if recorded := self._recorded_host():
            return recorded
        candidate = self._socket_candidate()
        return str(candidate) if candidate else LOOPBACK

    def _password(self) -> str | None:
        try:
            return self._password_file.read_text().strip() or None
        except OSError:
            return None

    def _port(self) -> int | None:
        try:
            return int((self._cluster_dir / "port").read_text())
        except (OSError, ValueError):
            return None

    def _initialised(self) -> bool:
        # _init writes the port file last, so it marks a complete initialisation.
        return (self._data_dir / "PG_VERSION").is_file() and self._port() is not None

    # -- packages ---------------------------------------------------------------------
    def _major(self) -> str | None:
        """Major of the existing cluster, else the highest installed server major."""
        pg_version = self._data_dir / "PG_VERSION"
        if pg_version.is_file():
            return pg_version.read_text().strip()
        # isdigit() skips pre-10 "9.6"-style folders (no PostGIS 3 there anyway).
        majors = [p.parent.parent.name for p in self._lib.glob("*/bin/pg_ctl")]
        return max((m for m in majors if m.isdigit()), key=int, default=None)

    def _missing_packages(self, major: str | None) -> list[str]:
        if major is None:
            return ["postgresql"]
        missing, bindir = [], self._lib / major / "bin"
        if not ((bindir / "pg_ctl").is_file() and (bindir / "initdb").is_file()):
            missing.append(f"postgresql-{major}")
        if not (self._share / major / "extension" / "postgis.control").is_file():
            missing.append(f"postgresql-{major}-postgis-3")
        return missing

    def _apt(self, apt_get: str, args: list[str]) -> None:
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        res = subprocess.run([apt_get, *args], env=env, capture_output=True, text=True)
        if res.returncode != 0:
            tail = "\n".join((res.stdout + res.stderr).splitlines()[-20:])
            raise DevDBError(f"apt-get {' '.join(args)} failed (exit {res.returncode}):\n{tail}")

    def install(self) -> list[str]:
        """Install the PostgreSQL server and PostGIS Debian packages that are missing.

        The only place that installs anything: starting the cluster never does, so
        resolving a database URL (``alembic``, ``seeds``, the pytest fixtures) cannot
        change the machine's packages.

        Returns:
            The packages installed; empty when everything was there already.

        Raises:
            DevDBError: They are missing and this process cannot install them (no apt-get,
                or not root: the message names the command to run), or apt-get failed.
        """
        major = self._major()
        missing = self._missing_packages(major)
        if not missing:
            return []
        # Without a server its major is unknown; the postgresql-postgis metapackage follows
        # the distribution's default major just as postgresql does.
        shown = " ".join(missing if major else ["postgresql", "postgresql-postgis"])
        need = "the PostgreSQL server and PostGIS are required but not installed"
        apt_get = _apt_get()
        if apt_get is None:
            raise DevDBError(f"{need}; no apt-get here, install the equivalent of: {shown}")
        if not _is_root():
            cmd = f"sudo apt-get install -y --no-install-recommends {shown}"
            raise DevDBError(f"{need}; run: {cmd}")
        install = ["install", "-y", "--no-install-recommends"]
        logger.warning("installing Debian packages %s ...", " ".join(missing))
        self._apt(apt_get, ["update"])
        self._apt(apt_get, [*install, *missing])
        installed = list(missing)
        missing = self._missing_packages(self._major())
        if major is None and self._major() is not None and missing:
            # Only now that a server is installed do we know which PostGIS matches it.
            logger.warning("installing Debian packages %s ...", " ".join(missing))
            self._apt(apt_get, [*install, *missing])
            installed += missing
            missing = self._missing_packages(self._major())
        if missing:
            raise DevDBError(f"still missing after apt-get install: {' '.join(missing)}")
        return installed

    def _require_installed(self) -> None:
        missing = self._missing_packages(self._major())
        if missing:
            raise DevDBError(
                "the dev database needs PostgreSQL and PostGIS, which are not installed "
                f"(missing {' '.join(missing)}); run `seeds devdb install` "
                "(scripts/bootstrap runs it)"
            )

    # -- processes --------------------------------------------------------------------
    def _server_ids(self) -> tuple[int, int] | None:
        """(uid, gid) to run server programs as, or None to run them as ourselves."""
        if not _is_root():
            return None
        try:
            pw = pwd.getpwnam(SERVER_OS_USER)
        except KeyError:
            msg = f"running as root, but there is no OS user {SERVER_OS_USER!r} to run as"
            raise DevDBError(msg) from None
        return pw.pw_uid, pw.pw_gid

    def _run(
        self, cmd: list[str], *, cwd: Path, check: bool = True, new_session: bool = False
    ) -> subprocess.CompletedProcess[str]:
        ids = self._server_ids()
        as_user: dict[str, Any] = {}
        if ids is not None:
            as_user = {"user": ids[0], "group": ids[1], "extra_groups": []}
        # The caller's PG* variables (PGDATA, PGPORT, ...) must not steer our cluster.
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env["LC_ALL"] = "C.UTF-8"  # same messages and defaults on every machine
        try:
            res = subprocess.run(
                cmd,
                cwd=cwd,
                env=env,
                capture_output=True,
                text=True,
                timeout=START_TIMEOUT + 30,
                start_new_session=new_session,
                **as_user,
            )
        except subprocess.TimeoutExpired as exc:
            raise DevDBError(f"{cmd[0]} timed out after {exc.timeout} s") from exc
        if check and res.returncode != 0:
            out = (res.stderr or res.stdout).strip()
            raise DevDBError(f"{Path(cmd[0]).name} failed (exit {res.returncode}): {out}")
        return res

    def _bin(self, name: str) -> str:
        major = self._major()
        path = self._lib / (major or "?") / "bin" / name
        if not path.is_file():
            raise DevDBError(f"{path} is missing; the cluster needs PostgreSQL {major}")
        return str(path)

    def _pg_ctl(self, *args: str, new_session: bool = False) -> subprocess.CompletedProcess[str]:
        # -w: wait until the server accepts connections (or is gone); -s: errors only.
        opts = ["-D", str(self._data_dir), "-w", "-t", str(START_TIMEOUT), "-s"]
        cmd = [self._bin("pg_ctl"), *args, *opts]
        return self._run(cmd, cwd=self._cluster_dir, check=False, new_session=new_session)

    def _running_pid(self) -> int | None:
        """Pid of this cluster's live postmaster; None if none or postmaster.pid is stale."""
        try:
            pid = int((self._data_dir / "postmaster.pid").read_text().split("\n", 1)[0])
            state = Path(f"/proc/{pid}/stat").read_text().rpartition(") ")[2][:1]
        except (OSError, ValueError):
            return None
        if state == "Z":  # killed but never reaped (containers whose init does not reap)
            return None
        try:
            cwd = os.readlink(f"/proc/{pid}/cwd")  # a postmaster's cwd is its data dir
        except PermissionError:
            return pid  # another user's process: we cannot tell, so never call it stale
        except OSError:
            return None
        return pid if Path(cwd) == self._data_dir.resolve() else None  # else: reused pid

    @contextmanager
    def _lock(self) -> Iterator[None]:
        # Serialise start/stop between processes (e.g. parallel test workers).
        self.state_dir.mkdir(parents=True, exist_ok=True)
        with open(self.state_dir / ".lock", "a") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)  # released when fh is closed
            yield

    def _write(self, path: Path, text: str) -> None:
        """Write one of the server's files: mode 0600, owned by the server's OS user."""
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with open(fd, "w") as fh:
            os.fchmod(fd, 0o600)  # also when the file was there already
            if ids := self._server_ids():
                os.fchown(fd, *ids)
            fh.write(text)

    def _claim_dir(self, path: Path) -> bool:
        """Make ``path`` a 0700 folder of the server's OS user; False if it is someone else's."""
        ids = self._server_ids()
        try:
            path.mkdir(mode=0o700)
        except FileExistsError:
            # /tmp and /var/tmp are world-writable: never take a folder or symlink planted there.
            st, owners = path.lstat(), {os.geteuid(), ids[0] if ids else os.geteuid()}
            if not stat.S_ISDIR(st.st_mode) or st.st_uid not in owners:
                return False
        if ids:
            os.chown(path, *ids)
        path.chmod(0o700)
        return True

    # -- init -------------------------------------------------------------------------
    def _make_cluster_dir(self) -> Path:
        """Create the cluster folder where the server's OS user can reach it."""
        self.state_dir.mkdir(parents=True, exist_ok=True)
        ids, location = self._server_ids(), self.state_dir / "location"
        # os.access would answer for us (root), so ask `test -x` as the server's user; it
        # fails if any parent (e.g. /root, /tmp/pytest-of-root, both 0700) is private.
        probe = ["test", "-x", str(self.root)]
        unreachable = ids and self._run(probe, cwd=Path("/"), check=False).returncode != 0
        if unreachable and not location.is_file():
            digest = hashlib.sha256(str(self.root).encode()).hexdigest()[:10]
            fallback = FALLBACK_BASE / f"seedchain-devdb-{os.geteuid()}-{digest}"
            why = "OS user %s cannot reach %s (a parent folder is private); using %s instead"
            logger.info(why, SERVER_OS_USER, self.root, fallback)
            location.write_text(f"{fallback}\n")
        cluster = self._cluster_dir
        if not self._claim_dir(cluster):
            raise DevDBError(f"{cluster} exists but is not ours; remove it")
        return cluster

    def _claim_socket_dir(self) -> str:
        """Make the socket's folder ours (0700) and return it, else return 127.0.0.1."""
        candidate = self._socket_candidate()
        if candidate is not None and self._claim_dir(candidate):
            return str(candidate)
        why = f"{candidate} is another OS user's" if candidate else "no socket path fits"
        logger.warning("%s; listening on %s (password only) instead", why, LOOPBACK)
        return LOOPBACK

    def _init(self) -> None:
        cluster = self._make_cluster_dir()
        data = cluster / "data"
        if data.exists():
            logger.warning("removing incompletely initialised cluster %s", data)
            shutil.rmtree(data)
        logger.info("initialising dev cluster in %s", data)
        # The superuser's password, for TCP should the socket ever be unusable; initdb
        # (the server's OS user) reads it from the file. scram-sha-256 for host makes
        # initdb store it as SCRAM on servers whose default is still md5.
        self._write(self._password_file, f"{secrets.token_urlsafe(32)}\n")
        cmd = [self._bin("initdb"), "-D", str(data), "-U", SUPERUSER, "--no-sync"]
        cmd += [f"--pwfile={self._password_file}", "--auth-local=trust"]
        cmd += ["--auth-host=scram-sha-256"]
        # UTF8 with C.UTF-8 ctype for Unicode upper()/lower(); C collation is byte order,
        # so sorting is the same on every machine and glibc version.
        self._run([*cmd, "--encoding=UTF8", "--locale=C.UTF-8", "--lc-collate=C"], cwd=cluster)
        with open(data / "postgresql.conf", "a") as fh:
            fh.write(
                "\n# seeds.dev.devdb settings (last, so they win)\ninclude = 'seedchain.conf'\n"
            )
        # Written last: marks a complete initialisation.
        (cluster / "port").write_text(f"{_free_port()}\n")

    def _configure(self, host: str, port: int) -> None:
        self._write(self._data_dir / "pg_hba.conf", _HBA)
        self._write(self._data_dir / "seedchain.conf", _settings(host, port))
        (self._cluster_dir / "host").write_text(f"{host}\n")
        (self._cluster_dir / "port").write_text(f"{port}\n")

    def _current(self) -> bool:
        """Whether the cluster is set up as this version sets it up; older versions listened
        on 127.0.0.1 with trust and gave the superuser no password."""
        host, port, data = self._recorded_host(), self._port(), self._data_dir
        if host is None or port is None or self._password() is None:
            return False
        try:
            hba, conf = (data / "pg_hba.conf").read_text(), (data / "seedchain.conf").read_text()
        except OSError:
            return False
        return hba == _HBA and conf == _settings(host, port)

    # -- public API -------------------------------------------------------------------
    def start(self) -> str:
        """Start the cluster, initialising it first if needed; never installs packages.

        Idempotent: if the server already runs, this only makes sure the application
        database exists (someone may have dropped it) and returns the URL; unless it runs
        with an older version's settings (TCP with trust): then it is restarted with
        this version's, its data kept.

        Returns:
            The SQLAlchemy URL of the application database.

        Raises:
            DevDBError: PostgreSQL or PostGIS is not installed (one line naming
                ``seeds devdb install``), or the server did not come up (the message
                ends with the last lines of server.log).
        """
        if self._running_pid() is not None and self._current():
            self._ensure_app_database()
            return self.url()
        self._require_installed()
        with self._lock():
            if self._running_pid() is not None and not self._current():
                why = "restarting the dev database in %s to apply this version's settings"
                logger.warning(why, self._data_dir)
                self._stop_server()
            if self._running_pid() is None:  # another process may have started it meanwhile
                if not self._initialised():
                    self._init()
                self._start_server()
            self._ensure_app_database()
        return self.url()

    def _start_server(self) -> None:
        # A cluster made by an older version has no password: it gets one once it is up.
        secret = None if self._password() else secrets.token_urlsafe(32)
        host = self._claim_socket_dir()
        if secret and host == LOOPBACK:
            raise DevDBError(
                f"{self._data_dir} was made by an older Seedchain and gets its password over "
                f"its Unix socket: make {self._socket_candidate()} usable (remove it), then "
                "run `seeds devdb start`"
            )
        port = self._port()
        if port is None or (host == LOOPBACK and not _port_free(port)):
            new = _free_port()
            logger.warning("port %s is taken by another program; moving to port %d", port, new)
            port = new
        self._configure(host, port)
        # Lock files of a killed server. Postgres removes them itself only if their pid is
        # gone, but an unreaped zombie still "exists" for kill(pid, 0). (Shared memory still
        # used by orphaned backends is detected by postgres without these files.)
        sockets = [] if host == LOOPBACK else Path(host).glob(".s.PGSQL.*")
        stale = [self._data_dir / "postmaster.pid", *sockets]
        for path in stale:
            if path.exists():
                logger.info("removing stale %s (its server is gone)", path)
                path.unlink()
        log = self._cluster_dir / "server.log"
        # new_session: a Ctrl-C meant for us (e.g. pytest) must not reach the server.
        res = self._pg_ctl("start", "-l", str(log), new_session=True)
        if res.returncode != 0:
            try:
                tail = "\n".join(log.read_text(errors="replace").splitlines()[-20:])
            except OSError:
                tail = "(no server.log)"
            raise DevDBError(
                f"PostgreSQL did not start: {(res.stderr or res.stdout).strip()}\n"
                f"last lines of {log}:\n{tail}"
            )
        if secret:
            self._set_password(secret)
        logger.info("dev database running on %s, port %s (data in %s)", host, port, self._data_dir)

    def _set_password(self, secret: str) -> None:
        """Give the superuser of a cluster made by an older version its password."""
        logger.info("giving the superuser a password (kept in %s)", self._password_file)
        with self._connect("postgres") as conn:
            # Only the SCRAM verifier reaches the server, as with psql's \password.
            verifier = conn.pgconn.encrypt_password(
                secret.encode(), SUPERUSER.encode(), b"scram-sha-256"
            )
            stmt = sql.SQL("ALTER ROLE {} PASSWORD {}")
            conn.execute(stmt.format(sql.Identifier(SUPERUSER), sql.Literal(verifier.decode())))
        self._write(self._password_file, f"{secret}\n")

    def _ensure_app_database(self) -> None:
        with self._connect("postgres") as conn:
            query = "SELECT 1 FROM pg_database WHERE datname = %s"
            exists = conn.execute(query, (self.dbname,)).fetchone() is not None
        if not exists:
            self.create_database(self.dbname)
        self.install_postgis(self.dbname)

    def install_postgis(self, name: str) -> None:
        """Create the PostGIS extension in database ``name`` (a no-op when it is there)."""
        with self._connect(name) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS postgis")

    def stop(self) -> bool:
        """Stop this project's server (fast shutdown), never any other.

        Returns:
            True if a server was stopped, False if none was running.

        Raises:
            DevDBError: pg_ctl could not stop it.
        """
        if self._running_pid() is None:
            return False
        with self._lock():
            self._stop_server()
        return True

    def _stop_server(self) -> None:
        # pg_ctl signals the pid recorded in this data dir's postmaster.pid.
        res = self._pg_ctl("stop", "-m", "fast")
        if res.returncode != 0 and self._running_pid() is not None:
            raise DevDBError(f"pg_ctl stop failed: {(res.stderr or res.stdout).strip()}")

    def status(self) -> DevDBStatus:
        """Report whether the server runs, its pid, data folder, port and URL."""
        pid, init = self._running_pid(), self._initialised()
        return DevDBStatus(
            running=pid is not None,
            pid=pid,
            data_dir=self._data_dir,
            port=self._port() if init else None,
            url=self.url() if init else None,
        )

    def url(self, dbname: str | None = None) -> str:
        """SQLAlchemy URL (psycopg 3 driver) of a database in the cluster.

        Args:
            dbname: Database name; defaults to the application database.

        Raises:
            DevDBError: The cluster was never initialised (call start first).
        """
        port, host = self._port(), self._host()
        if port is None or not self._initialised():
            raise DevDBError(f"no dev database for {self.root}; run `seeds devdb start` first")
        name = self.dbname if dbname is None else dbname
        if host == LOOPBACK:  # the password is in the URL: only we can read its file anyway
            password = self._password()
            url = URL.create(_DRIVER, SUPERUSER, password, host, port, name)
            return url.render_as_string(hide_password=False)
        rendered = URL.create(_DRIVER, SUPERUSER, database=name).render_as_string()
        # Hand-written query so the socket path stays readable ("/" not escaped).
        return f"{rendered}?host={quote(host)}&port={port}"

    @contextmanager
    def _connect(self, dbname: str) -> Iterator[psycopg.Connection[TupleRow]]:
        port, host = self._port(), self._host()
        if port is None:  # else libpq would silently try the default port 5432
            raise DevDBError(f"no dev database for {self.root}; run `seeds devdb start` first")
        params: dict[str, Any] = {"host": host, "connect_timeout": 10}
        if host == LOOPBACK:
            params["password"] = self._password()
        try:
            conn = psycopg.connect(
                port=port, user=SUPERUSER, dbname=dbname, autocommit=True, **params
            )
        except psycopg.OperationalError as exc:
            raise DevDBError(f"cannot reach the dev database (is it started?): {exc}") from exc
        with conn:
            yield conn

    def _admin(self, stmt: sql.Composed, failure: str) -> None:
        with self._connect("postgres") as conn:
            try:
                conn.execute(stmt)
            except psycopg.Error as exc:
                raise DevDBError(f"{failure}: {exc}") from exc

    def create_database(self, name: str, template: str | None = None) -> None:
        """Create a database, optionally as a copy of ``template``.

        Args:
            name: The new database's name; any characters (quoted as an identifier).
            template: Database to copy, e.g. the migrated app database. It must have no
                other connections while being copied.

        Raises:
            DevDBError: The server is unreachable or refused (e.g. the name is taken).
        """
        stmt = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
        if template is not None:
            stmt = sql.SQL("{} TEMPLATE {}").format(stmt, sql.Identifier(template))
        self._admin(stmt, f"could not create database {name!r}")

    def drop_database(self, name: str) -> None:
        """Drop a database if it exists, disconnecting its sessions first.

        Raises:
            DevDBError: The server is unreachable or refused.
        """
        stmt = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        self._admin(stmt, f"could not drop database {name!r}")

    def restart(self) -> None:
        """Restart this project's server (fast shutdown: open sessions are ended), as an
        operator's restart or a failover would; the fault tests use it.

        Raises:
            DevDBError: No server of this project is running, or pg_ctl failed.
        """
        if self._running_pid() is None:
            raise DevDBError(f"no dev database runs for {self.root}; run `seeds devdb start`")
        with self._lock():
            server_log = self._cluster_dir / "server.log"
            # As start does: a new session, and the server's output to server.log.
            res = self._pg_ctl("restart", "-m", "fast", "-l", str(server_log), new_session=True)
            if res.returncode != 0:
                raise DevDBError(f"pg_ctl restart failed: {(res.stderr or res.stdout).strip()}")
