"""Everything a project's ``migrations/env.py`` does, so env.py stays three lines.

This is the only module that drives Alembic's runtime ``context``. It resolves the
database and the environment *before* any revision runs (failing closed with one
line), points every table and ``alembic_version`` at ``SCHEMA``, and runs the
revisions online (one transaction per revision) or offline (``--sql``).
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from logging.config import fileConfig
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from alembic import context
from alembic.util import CommandError
from sqlalchemy.pool import NullPool
from sqlalchemy.schema import DDLElement

from seeds.data.streams import derive_seed
from seeds.dialects import bind, dialect_class
from seeds.errors import (
    ConfigurationError,
    ConnectionLost,
    EnvironmentNotDeclared,
    SeedError,
    first_line,
)
from seeds.runtime import autogenerate, protection, undo
from seeds.runtime.database import (
    Target,
    describe_connect_error,
    find_project_root,
    project_root_of,
    resolve_target,
)
from seeds.runtime.environment import Environment
from seeds.runtime.ledger import EventKind, Ledger
from seeds.runtime.parameters import Parameters
from seeds.runtime.project import APP_CONFIG, resolve_run
from seeds.runtime.run import ATTRIBUTE, DRY_RUN, RESULT, Run, RunResult, RunState
from seeds.runtime.settings import load_settings

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

log = logging.getLogger(__name__)


# context.configure arguments run_migrations sets from the run; a project may not.
_RESERVED = frozenset(
    {
        "connection",
        "url",
        "version_table_schema",
        "transaction_per_migration",
        "literal_binds",
        "dialect_opts",
        "as_sql",
    }
)


@dataclass(frozen=True)
class RunOptions:
    """What one ``alembic`` invocation was asked to do, resolved and checked.

    ``environment`` is None only for a read-only command (``current``, ``check``,
    ``revision --autogenerate``): no revision runs, so none is needed.
    """

    target: Target
    environment: Environment | None
    parameters: Parameters
    project_root: Path
    offline: bool
    configure_args: dict[str, Any]


def run_migrations(target_metadata: sa.MetaData | None = None, **configure_args: Any) -> RunResult:
    """Run the Alembic revisions of this invocation; call it from env.py.

    Args:
        target_metadata: The application's metadata, used by ``--autogenerate``.
        configure_args: More ``context.configure`` arguments of the project (for
            example Flask-Migrate's ``process_revision_directives``); its own
            ``include_name`` / ``include_object`` are composed with Seedchain's, which
            keep the ledger and extension tables out of autogenerate.

    Returns:
        What each seed revision did, in order.

    Raises:
        CommandError: for every configuration problem (Alembic prints it as one
            ``FAILED:`` line, no traceback), before anything is run or created.
    """
    config = context.config
    configure_logging = config.attributes.get("configure_logger", True)
    if config.config_file_name and configure_logging and config.file_config.has_section("loggers"):
        fileConfig(config.config_file_name, disable_existing_loggers=False)
    try:
        options = _resolve_options(config.config_file_name, target_metadata, configure_args)
        if options.environment is None:
            _run_read_only(options)
            result = RunResult()
            config.attributes[RESULT] = result
            return result
        log.info(
            "environment %s, database %s%s",
            options.environment,
            options.target.display,
            f", schema {options.target.schema!r}" if options.target.schema else "",
        )
        run = _run_offline(options) if options.offline else _run_online(options)
    except SeedError as err:
        # One FAILED line from Alembic, no traceback; the revision's transaction has
        # been rolled back, so neither its rows nor alembic_version moved.
        if context.is_offline_mode():
            # Alembic prints FAILED on stdout, where the script is usually redirected.
            log.error("%s; no SQL was written", err)
        raise CommandError(str(err)) from err
    except sa.exc.DBAPIError as err:
        # Outside a seed's body: a schema revision, Alembic's own bookkeeping, or the
        # connection itself. The revision's transaction rolled back all the same.
        log.debug("the migration stopped", exc_info=err)
        said = first_line(err)
        if err.connection_invalidated:
            # Perhaps during a COMMIT, whose outcome the client never heard.
            raise CommandError(str(ConnectionLost(said))) from err
        raise CommandError(
            f"the migration stopped: {said}; the "
            "failing revision rolled back (traceback in the log at DEBUG)"
        ) from err
    result = run.result() if run is not None else RunResult()
    config.attributes[RESULT] = result
    return result


def _resolve_options(
    config_file: str | None, target_metadata: sa.MetaData | None, user_args: dict[str, Any]
) -> RunOptions:
    x_args = context.get_x_argument(as_dictionary=True)
    root = project_root_of(Path(config_file).parent) if config_file else find_project_root()
    offline = context.is_offline_mode()
    parameters = Parameters.from_x_args(x_args)
    app = context.config.attributes.get(APP_CONFIG)  # set when `flask seed` runs Alembic
    args = autogenerate.configure_args(target_metadata, user_args, _RESERVED)
    environ = _environ_naming_given_connection()
    environment: Environment | None
    try:
        target, environment = resolve_run(x_args, environ, root, offline=offline, app=app)
    except EnvironmentNotDeclared:
        if not _read_only():
            if _given_connection() is not None:
                raise _undeclared_for_given_connection() from None
            raise
        # Nothing will run: the database is what it is, whichever environment it is for.
        app_url = app.database_url if app else None
        target = resolve_target(x_args, environ, root, start_devdb=not offline, app_url=app_url)
        environment = None
    return RunOptions(target, environment, parameters, root, offline, args)


def _read_only() -> bool:
    """True for commands that run no revision (current, check, revision --autogenerate):
    Alembic gives them no destination."""
    try:
        context.get_revision_argument()
    except KeyError:
        return True
    return False


def _run_read_only(options: RunOptions) -> None:
    """Let Alembic read the database (its version, or the schema to compare); no
    revision runs, so no environment, protection or lock is involved."""
    with _connection(options.target, commits=False) as connection:
        schema = options.target.schema
        if schema:
            statement = bind(connection).search_path_statement(connection.dialect, schema)
            connection.execute(statement)
        _configure(options, connection=connection)
        with context.begin_transaction():
            context.run_migrations()


def _environment(options: RunOptions) -> Environment:
    if options.environment is None:  # read-only runs never get this far
        raise ConfigurationError("no environment for a run that changes the database")
    return options.environment


def _run_state(options: RunOptions, database: str, **kw: object) -> RunState:
    return RunState(
        environment=_environment(options),
        parameters=options.parameters,
        database=database,
        schema=options.target.schema,
        offline=options.offline,
        settings=load_settings(options.project_root, _environment(options)),
        **kw,  # type: ignore[arg-type]
    )


def _run_online(options: RunOptions) -> Run:
    target = options.target
    connecting = contextlib.ExitStack()
    connection = connecting.enter_context(_connection(target, commits=True))
    try:
        dialect = bind(connection)
        if target.schema:
            for statement in dialect.schema_statements(connection.dialect, target.schema):
                connection.execute(statement)
        database = dialect.database_name()
        # The stamp cross-checked with the ledger's own rows (and accepted re-stamps).
        stamp = Ledger(dialect).protection(database).environment
        override = protection.resolve_override(options.parameters.allow_unsafe, database)
        dry_run = bool(context.config.attributes.get(DRY_RUN))
        state = _run_state(options, database, override=override, stamp=stamp, dry_run=dry_run)
        run = Run(state, dialect)
        overridden = protection.check_environment(state.environment, stamp, database, override)
        if overridden and not dry_run:  # a plan writes nothing, events included
            _record_override(run, f"ran {state.environment} against production")
        dialect.set_session_lock_timeout(options.parameters.lock_timeout)
        connection.commit()
        # A dry run's one outer transaction begins before Alembic looks at the
        # connection: Alembic then sees a transaction it does not own and commits
        # nothing itself. (Begun later, Alembic would commit it after the first
        # revision wherever DDL is not transactional, as on SQLite.)
        if dry_run and not dialect.transactional_ddl:
            raise ConfigurationError(
                f"seeds plan runs the migration in one transaction and rolls it back, "
                f"which {dialect.name} cannot do for schema changes (they commit at once); "
                "run the migration on a copy of the database instead"
            )
        outer = connection.begin() if dry_run else None
        _configure(options, connection=connection, dry_run=dry_run)
        context.config.attributes[ATTRIBUTE] = run
        migration_context = context.get_context()
        _guard_downgrades(migration_context, run, record=not dry_run)
        if outer is not None:
            # Always rolled back, so nothing of the run stays: schema, rows and ledger
            # alike. No deploy lock: nothing is going to change.
            try:
                context.run_migrations()
            finally:
                outer.rollback()
                _give_back_sequences(run)
            return run
        with _deploy_lock(migration_context, run, options):
            try:
                with context.begin_transaction():
                    context.run_migrations()
            finally:
                # After the revisions' commits (or a failure's rollback): only then
                # may an undo's key sequences move back.
                undo.restore_sequences(run)
        return run
    finally:
        connecting.close()


def _give_back_sequences(run: Run) -> None:
    # Sequences are not transactional: the rolled-back inserts of a dry run still
    # used up keys. Put each sequence back unless someone else drew from it since,
    # newest seed first so each finds the sequence where it left it.
    for outcome in reversed(run.result().outcomes):
        for before, used_to in getattr(outcome, "sequences", ()):
            run.dialect.rewind_sequence(before, used_to)
    run.dialect.connection.commit()


def _record_override(run: Run, detail: str) -> None:
    state = run.state
    run.ledger.record_event(EventKind.OVERRIDE, state.environment, state.database, detail)
    run.dialect.connection.commit()


def _guard_downgrades(migration_context: Any, run: Run, *, record: bool) -> None:
    """Refuse downgrades of a production database before the first step runs, and
    record the steps for the run's result (``seeds plan`` names them).

    Alembic computes the steps inside run_migrations, after reading the current
    heads (under our deploy lock). Wrapping its step function is the one place that
    sees the real list before anything executes. ``_migrations_fn`` is private
    Alembic API; the protection tests fail loudly if it ever changes.
    """
    steps_for = migration_context._migrations_fn
    if steps_for is None:
        return
    state = run.state

    def guarded(heads: Any, ctx: Any) -> Any:
        steps = list(steps_for(heads, ctx))
        run.record_steps([_describe(step) for step in steps])
        downgrades = [str(step.short_log) for step in steps if not step.is_upgrade]
        used = protection.check_downgrade(downgrades, state.stamp, state.database, state.override)
        if used and record:
            _record_override(run, "downgrade: " + "; ".join(downgrades))
        return steps

    migration_context._migrations_fn = guarded


def _describe(step: Any) -> str:
    """``"s2 -> s1, message"``: where one Alembic step goes, as ``alembic history`` says."""
    source = ", ".join(step.from_revisions) or "base"
    destination = ", ".join(step.to_revisions) or "base"
    return f"{source} -> {destination}, {step.doc}"


@contextlib.contextmanager
def _deploy_lock(migration_context: Any, run: Run, options: RunOptions) -> Iterator[None]:
    """Serialise concurrent runs on one database (and schema); skip it at head.

    The fast path: a database already at the head an upgrade asks for takes no lock,
    so a deploy that finds nothing to do never waits behind another one.
    """
    try:
        destination = context.get_revision_argument()
    except KeyError:  # commands such as `current` have no destination
        destination = None
    heads = set(migration_context.get_current_heads())
    wanted = set(destination) if isinstance(destination, tuple) else {destination}
    if heads and heads == set(context.script.get_heads()) == wanted:
        log.info("database is at head; no deploy lock needed")
        run.dialect.connection.commit()
        yield
        return
    key = derive_seed(0, "seedchain deploy lock", options.target.schema or "")
    signed = key - (1 << 64) if key >= (1 << 63) else key  # advisory locks take a bigint
    with run.dialect.deploy_lock(signed, options.parameters.lock_wait):
        yield


def _run_offline(options: RunOptions) -> Run:
    # The script is kept until every revision has rendered: a seed that cannot be
    # rendered stops the run before any SQL reaches the output, so no half script is
    # ever there to be run.
    script = io.StringIO()
    _configure(options, url=options.target.url, output_buffer=script)
    # Offline there is no database to read: protection is checked when the SQL runs
    # online, and the override cannot name a database it cannot see.
    sa_dialect = context.get_context().dialect
    dialect_class(sa_dialect.name).prepare_offline(sa_dialect)
    dialect = bind(None, sa_dialect=sa_dialect, emit=_emit_offline)
    run = Run(_run_state(options, options.target.url.database or ""), dialect)
    context.config.attributes[ATTRIBUTE] = run
    with context.begin_transaction():
        guard = _script_guard(sa_dialect.name, options.target.schema)
        if guard is not None:
            dialect.execute(guard)
        if options.target.schema:
            for statement in dialect_class(sa_dialect.name).schema_statements(
                sa_dialect, options.target.schema
            ):
                dialect.execute(statement)
        context.run_migrations()
    output = context.config.output_buffer or sys.stdout
    output.write(script.getvalue())
    output.flush()
    return run


def _script_guard(dialect_name: str, schema: str | None) -> sa.Select[Any] | None:
    """The script's first statement: it stops unless the database is where the script
    starts. The script is one transaction, so nothing after a failed guard applies."""
    start = context.get_starting_revision_argument()
    if isinstance(start, tuple):  # several heads: no one revision to check
        return None
    migration = context.get_context()
    version_table = sa.table(
        migration.version_table,
        sa.column("version_num"),
        schema=migration.version_table_schema,
    )
    return dialect_class(dialect_name).script_guard(version_table, start)


def _emit_offline(statement: Any) -> None:
    """Write one of Seedchain's statements to the script, values as literals.

    What ``context.execute`` does, except that it turns every tab into four spaces,
    which would change the data of a string holding a tab. Schema statements still go
    through Alembic's own writer.
    """
    if isinstance(statement, str | DDLElement):
        context.execute(statement)
        return
    migration = context.get_context()
    compiled = statement.compile(dialect=migration.dialect, compile_kwargs={"literal_binds": True})
    migration.impl.static_output(str(compiled).strip() + migration.impl.command_terminator)


def _configure(
    options: RunOptions,
    *,
    connection: Connection | None = None,
    url: sa.URL | None = None,
    dry_run: bool = False,
    output_buffer: io.StringIO | None = None,
) -> None:
    args = {"compare_type": True, **options.configure_args}
    if output_buffer is not None:
        args["output_buffer"] = output_buffer
    context.configure(
        connection=connection,
        url=url,
        version_table_schema=options.target.schema,
        # One transaction per revision: a failing revision rolls back itself and
        # its alembic_version bump, and the revisions before it stay applied. A --sql
        # script is one transaction behind its guard: applied twice, it changes nothing.
        transaction_per_migration=not dry_run and not options.offline,
        literal_binds=options.offline,
        dialect_opts={"paramstyle": "named"} if options.offline else None,
        **args,
    )


# -- a connection the caller passes in ----------------------------------------------
#
# Alembic's recipe for running commands programmatically on a connection of one's own
# (and what pytest-alembic does with its engine): config.attributes["connection"]. It
# names the database the way DATABASE_URL does, and wins over it; an environment must
# still be declared for it, exactly as for DATABASE_URL.

_GIVEN = "connection"


def _given_connection() -> sa.Connection | sa.Engine | None:
    given = context.config.attributes.get(_GIVEN)
    if given is None or isinstance(given, sa.Connection | sa.Engine):
        return given
    raise ConfigurationError(
        f"config.attributes[{_GIVEN!r}] is a {type(given).__name__}; "
        "pass a SQLAlchemy Connection or Engine"
    )


def _environ_naming_given_connection() -> Mapping[str, str]:
    """The process environment, its DATABASE_URL the given connection's database."""
    given = _given_connection()
    if given is None:
        return os.environ
    url = given.engine.url.render_as_string(hide_password=False)
    log.info("using the connection passed in config.attributes[%r]", _GIVEN)
    return {**os.environ, "DATABASE_URL": url}


def _undeclared_for_given_connection() -> EnvironmentNotDeclared:
    names = "|".join(e.value for e in Environment)
    return EnvironmentNotDeclared(
        f"config.attributes[{_GIVEN!r}] names the database but no environment is "
        f"declared: pass -x env={names} or set APP_ENV; nothing was run"
    )


@contextlib.contextmanager
def _connection(target: Target, *, commits: bool) -> Iterator[Connection]:
    """The run's connection: the caller's, left open, or a new one to ``target``.

    A run that ``commits`` (one transaction per revision, its own commits around
    them) refuses a caller's connection inside a transaction, which it would commit.
    What the run leaves uncommitted on a caller's connection is rolled back, as
    closing a connection of its own would: the caller gets it back as it gave it.
    """
    given = _given_connection()
    if isinstance(given, sa.Connection):
        in_transaction = given.in_transaction()
        if commits and in_transaction:
            raise ConfigurationError(
                f"the connection in config.attributes[{_GIVEN!r}] is inside a "
                "transaction, which the run would commit (it commits each revision "
                "itself); pass it with no transaction begun, or pass the Engine"
            )
        try:
            yield given
        finally:
            if not in_transaction and given.in_transaction():
                given.rollback()
        return
    engine = given if given is not None else sa.create_engine(target.url, poolclass=NullPool)
    try:
        try:
            connection = engine.connect()
        except sa.exc.OperationalError as err:
            raise CommandError(describe_connect_error(target, err)) from err
        with connection:
            yield connection
    finally:
        if given is None:  # a caller's engine stays the caller's
            engine.dispose()
