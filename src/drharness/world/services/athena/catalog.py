"""The world's AwsDataCatalog: databases and their external tables, per account and region.

Athena keeps them in the AWS Glue Data Catalog; the world keeps them here, so DDL run through
StartQueryExecution is seen by the next query (Glue's own API does not see them). The wording of the
failures is Hive's, as Athena returns it for DDL
(https://docs.aws.amazon.com/athena/latest/ug/ddl-reference.html).
"""

from __future__ import annotations

import threading

from drharness.world.services.athena.ddl import (
    CreateDatabase,
    CreateTable,
    DropDatabase,
    DropTable,
    Statement,
    TableDef,
)
from drharness.world.services.athena.models import (
    CATALOG,
    DEFAULT_DATABASE,
    QueryFailure,
)


class Catalog:
    """Databases and tables of every (account, region); safe to use from several query threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._databases: dict[tuple[str, str], dict[str, dict[str, TableDef]]] = {}

    def _of(self, account: str, region: str) -> dict[str, dict[str, TableDef]]:
        return self._databases.setdefault((account, region), {DEFAULT_DATABASE: {}})

    def apply(self, account: str, region: str, statement: Statement) -> None:
        """Carry out one DDL statement; raises QueryFailure with Hive's reason when it cannot be."""
        with self._lock:
            databases = self._of(account, region)
            if isinstance(statement, CreateDatabase):
                if statement.name in databases and not statement.if_not_exists:
                    raise QueryFailure(f"FAILED: AlreadyExistsException Database {statement.name} already exists")
                databases.setdefault(statement.name, {})
            elif isinstance(statement, DropDatabase):
                _drop_database(databases, statement)
            elif isinstance(statement, CreateTable):
                table = statement.table
                tables = _tables(databases, table.database)
                if table.name in tables and not statement.if_not_exists:
                    raise QueryFailure(f"FAILED: AlreadyExistsException Table {table.database}.{table.name} "
                                       "already exists; drop it first or add IF NOT EXISTS")
                tables.setdefault(table.name, table)
            elif isinstance(statement, DropTable):
                tables = _tables(databases, statement.database)
                if statement.name not in tables and not statement.if_exists:
                    raise QueryFailure(f"FAILED: SemanticException [Error 10001]: Table not found "
                                       f"{statement.database}.{statement.name}")
                tables.pop(statement.name, None)

    def has_database(self, account: str, region: str, database: str) -> bool:
        with self._lock:
            return database in self._of(account, region)

    def table(self, account: str, region: str, database: str, name: str) -> TableDef | None:
        with self._lock:
            return self._of(account, region).get(database, {}).get(name)

    def databases(self, account: str, region: str) -> list[str]:
        """The database names of an account's catalog in a region, sorted."""
        with self._lock:
            return sorted(self._of(account, region))

    def tables(self, account: str, region: str, database: str) -> list[TableDef]:
        """The tables of one database, by name; empty for an unknown database."""
        with self._lock:
            found = self._of(account, region).get(database, {})
            return [found[name] for name in sorted(found)]


def _tables(databases: dict[str, dict[str, TableDef]], database: str) -> dict[str, TableDef]:
    if database not in databases:
        raise QueryFailure(f"FAILED: SemanticException [Error 10072]: Database does not exist: {database} "
                           f"(catalog {CATALOG}); create it first with CREATE DATABASE {database}")
    return databases[database]


def _drop_database(databases: dict[str, dict[str, TableDef]], statement: DropDatabase) -> None:
    if statement.name not in databases:
        if statement.if_exists:
            return
        raise QueryFailure(f"FAILED: SemanticException [Error 10072]: Database does not exist: {statement.name}")
    if statement.name == DEFAULT_DATABASE:
        raise QueryFailure(f"FAILED: InvalidOperationException(message:Can not drop {DEFAULT_DATABASE} database)")
    if databases[statement.name] and not statement.cascade:
        raise QueryFailure(f"FAILED: InvalidOperationException(message:Database {statement.name} is not empty. "
                           "One or more tables exist.) Drop its tables first or add CASCADE")
    del databases[statement.name]
