"""Scratch databases on the project-local cluster: made for one strategy, dropped after."""

from __future__ import annotations

from seeds.dev.devdb import DevDB


class ScratchDatabases:
    """Databases named ``prefix`` + a name, every one of them dropped by :meth:`drop_all`.

    Args:
        devdb: The started cluster.
        prefix: Keeps a run's databases apart from every other's (and from the app's).
    """

    def __init__(self, devdb: DevDB, prefix: str) -> None:
        self.devdb = devdb
        self.prefix = prefix
        self._made: list[str] = []

    def create(self, name: str, *, template: str | None = None, postgis: bool = False) -> str:
        """A new database (a copy of scratch database ``template`` if given); its URL."""
        full = self.prefix + name
        self.devdb.drop_database(full)
        self.devdb.create_database(
            full, template=None if template is None else self.prefix + template
        )
        self._made.append(full)
        if postgis:
            self.devdb.install_postgis(full)
        return self.devdb.url(full)

    def url(self, name: str) -> str:
        """The URL of scratch database ``name``."""
        return self.devdb.url(self.prefix + name)

    def drop(self, name: str) -> None:
        """Drop scratch database ``name`` now (big ones should not wait for the end)."""
        full = self.prefix + name
        self.devdb.drop_database(full)
        if full in self._made:
            self._made.remove(full)

    def drop_all(self) -> None:
        """Drop every database this made that is still there."""
        for full in reversed(self._made):
            self.devdb.drop_database(full)
        self._made.clear()
