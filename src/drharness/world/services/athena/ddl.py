"""Athena's Hive DDL as the world reads it: databases, and external tables over S3 objects.

The statements follow https://docs.aws.amazon.com/athena/latest/ug/create-table.html,
https://docs.aws.amazon.com/athena/latest/ug/create-database.html, .../drop-table.html and
.../drop-database.html; the tables over S3 Inventory reports follow
https://docs.aws.amazon.com/AmazonS3/latest/userguide/storage-inventory-athena-query.html (Parquet through
`ParquetHiveSerDe`, CSV through `OpenCSVSerde`, both optionally behind `SymlinkTextInputFormat`), and those
over DynamoDB exports https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/S3DataExport.Output.html
(JSON lines through `org.openx.data.jsonserde.JsonSerDe`). Names are lowercased as Hive stores them.

Read and kept: columns (scalar, `array<>`, `map<>`, `struct<>` types), `ROW FORMAT SERDE` with
`WITH SERDEPROPERTIES`, `ROW FORMAT DELIMITED`, `STORED AS PARQUET | TEXTFILE`, `STORED AS INPUTFORMAT ...
OUTPUTFORMAT ...`, `LOCATION`, `TBLPROPERTIES` (`skip.header.line.count` honoured, the rest ignored).
Refused with the reason: `PARTITIONED BY`, bucketing, CREATE TABLE AS SELECT, ORC, Avro and other SerDes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from drharness.world.services.athena.models import NOT_SUPPORTED, QueryFailure

_TOKEN = re.compile(
    r"\s+|--[^\n]*|/\*.*?\*/"
    r"|(?P<ident>`(?:[^`]|``)*`)"
    r"|(?P<string>'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\")"
    r"|(?P<word>[A-Za-z_][A-Za-z0-9_$]*|\d+)"
    r"|(?P<punct>[(),.<>:=;])",
    re.DOTALL,
)
_ESCAPES = {"t": "\t", "n": "\n", "r": "\r", "0": "\0", "\\": "\\", "'": "'", '"': '"'}
_SCALARS = {
    "string": "VARCHAR", "varchar": "VARCHAR", "char": "VARCHAR", "tinyint": "TINYINT", "smallint": "SMALLINT",
    "int": "INTEGER", "integer": "INTEGER", "bigint": "BIGINT", "float": "FLOAT", "double": "DOUBLE",
    "boolean": "BOOLEAN", "date": "DATE", "timestamp": "TIMESTAMP", "binary": "BLOB", "decimal": "DECIMAL",
}
PARQUET, CSV, TEXT, JSON = "parquet", "csv", "text", "json"
_SERDES = {
    "org.apache.hadoop.hive.ql.io.parquet.serde.parquethiveserde": PARQUET,
    "org.apache.hadoop.hive.serde2.opencsvserde": CSV,
    "org.apache.hadoop.hive.serde2.lazy.lazysimpleserde": TEXT,
    "org.openx.data.jsonserde.jsonserde": JSON,
    "org.apache.hive.hcatalog.data.jsonserde": JSON,
}
_NOUNS = ("TABLE", "DATABASE", "VIEW", "FUNCTION")
_OTHER_DML = ("INSERT", "UNLOAD", "UPDATE", "DELETE", "MERGE", "VACUUM", "OPTIMIZE", "PREPARE", "EXECUTE",
              "DEALLOCATE")
PARTITIONS_REFUSED = ("PARTITIONED BY is not emulated offline (no partitions, no partition projection): give LOCATION "
                      "the partition's own folder, e.g. s3://bucket/prefix/source/config/hive/dt=2026-12-04-20-00/")


@dataclass(frozen=True)
class TableColumn:
    name: str  # lowercased, as Hive keeps it
    declared: str  # as written: JSON keys are matched by it
    hive_type: str
    duck_type: str


@dataclass(frozen=True)
class TableDef:
    """An external table: its columns, how its files are read, and where they are."""

    database: str
    name: str
    columns: tuple[TableColumn, ...]
    data_format: str  # parquet | csv | text | json
    bucket: str
    prefix: str  # '' or ending in '/'
    symlink: bool  # the files under LOCATION list the data files (SymlinkTextInputFormat)
    separator: str = ","
    quote: str = '"'
    escape: str = "\\"
    null_text: str = "\\N"  # text tables only
    skip_header_lines: int = 0
    ignore_malformed: bool = False  # JSON tables: 'ignore.malformed.json'

    @property
    def location(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"


@dataclass(frozen=True)
class CreateDatabase:
    name: str
    if_not_exists: bool


@dataclass(frozen=True)
class DropDatabase:
    name: str
    if_exists: bool
    cascade: bool


@dataclass(frozen=True)
class CreateTable:
    table: TableDef
    if_not_exists: bool


@dataclass(frozen=True)
class DropTable:
    database: str
    name: str
    if_exists: bool


Statement = CreateDatabase | DropDatabase | CreateTable | DropTable


@dataclass(frozen=True)
class _Token:
    kind: str
    text: str
    pos: int

    @property
    def upper(self) -> str:
        return self.text.upper() if self.kind == "word" else ""


def statement_kind(sql: str) -> tuple[str, str]:
    """(StatementType, SubstatementType) of a query, as Athena reports them, from its first words."""
    words = [w.upper() for w in re.findall(r"[A-Za-z]+|\(", _strip_comments(sql))[:4]] or [""]
    first = words[0]
    if first in ("SELECT", "WITH", "VALUES", "("):
        return "DML", "SELECT"
    second = next((w for w in words[1:] if w not in ("EXTERNAL", "OR", "REPLACE")), "")
    if first in ("CREATE", "DROP", "ALTER"):
        noun = {"SCHEMA": "DATABASE"}.get(second, second)
        return "DDL", f"{first}_{noun}" if noun in _NOUNS else first  # an unknown noun fails as Hive parses it
    if first == "MSCK":
        return "DDL", "REPAIR_TABLE"
    if first in ("SHOW", "DESCRIBE", "DESC", "EXPLAIN", "USE"):
        return "UTILITY", first
    if first in _OTHER_DML:
        return "DML", first
    return "DML", "SELECT"  # anything else is parsed as a query, and fails with its SYNTAX_ERROR


def parse_ddl(sql: str, context_database: str) -> Statement:
    """The DDL statement `sql` states; raises QueryFailure with Hive's reason for anything else."""
    return _Parser(sql, context_database).statement()


def _strip_comments(sql: str) -> str:
    return re.sub(r"--[^\n]*|/\*.*?\*/", " ", sql, flags=re.DOTALL).strip()


def _tokens(sql: str) -> list[_Token]:
    tokens, pos = [], 0
    while pos < len(sql):
        match = _TOKEN.match(sql, pos)
        if match is None:
            raise _parse_error(sql, pos, f"character {sql[pos]!r} not recognised")
        kind = match.lastgroup
        if kind is not None:
            tokens.append(_Token(kind, match.group(kind), pos))
        pos = match.end()
    return tokens


def _parse_error(sql: str, pos: int, message: str) -> QueryFailure:
    line = sql.count("\n", 0, pos) + 1
    column = pos - (sql.rfind("\n", 0, pos) + 1)
    return QueryFailure(f"FAILED: ParseException line {line}:{column} {message}")


def _unquote(token: _Token) -> str:
    body = token.text[1:-1]
    if token.kind == "ident":
        return body.replace("``", "`")

    def escape(match: re.Match[str]) -> str:
        text = match.group(1)
        if text.isdigit() and len(text) == 3:
            return chr(int(text, 8))
        return _ESCAPES.get(text, text)

    return re.sub(r"\\([0-7]{3}|.)", escape, body, flags=re.DOTALL)


class _Parser:
    """A cursor over one statement's tokens."""

    def __init__(self, sql: str, context_database: str) -> None:
        self._sql = sql
        self._tokens = _tokens(sql)
        self._at = 0
        self._context = context_database

    # -- the cursor -------------------------------------------------------------------------------------

    def _peek(self) -> _Token | None:
        return self._tokens[self._at] if self._at < len(self._tokens) else None

    def _fail(self, expected: str) -> QueryFailure:
        token = self._peek()
        if token is None:
            return _parse_error(self._sql, len(self._sql), f"missing {expected} at end of statement")
        return _parse_error(self._sql, token.pos, f"cannot recognize input near '{token.text}': expected {expected}")

    def _accept(self, *words: str) -> bool:
        """Take the next tokens if they are these keywords (all of them), in order."""
        ahead = self._tokens[self._at:self._at + len(words)]
        if len(ahead) == len(words) and all(t.upper == w for t, w in zip(ahead, words)):
            self._at += len(words)
            return True
        return False

    def _expect(self, *words: str) -> None:
        if not self._accept(*words):
            raise self._fail(" ".join(words))

    def _punct(self, char: str, *, required: bool = True) -> bool:
        token = self._peek()
        if token is not None and token.kind == "punct" and token.text == char:
            self._at += 1
            return True
        if required:
            raise self._fail(f"'{char}'")
        return False

    def _name(self) -> str:
        """An identifier as written (bare or in backticks)."""
        token = self._peek()
        if token is None or token.kind not in ("word", "ident"):
            raise self._fail("a name")
        self._at += 1
        return _unquote(token) if token.kind == "ident" else token.text

    def _string(self) -> str:
        token = self._peek()
        if token is None or token.kind != "string":
            raise self._fail("a quoted string")
        self._at += 1
        return _unquote(token)

    def _qualified(self) -> tuple[str, str]:
        first = self._name().lower()
        if self._punct(".", required=False):
            return first, self._name().lower()
        return self._context, first

    def _properties(self) -> dict[str, str]:
        self._punct("(")
        found: dict[str, str] = {}
        while True:
            key = self._string()
            self._punct("=")
            found[key.lower()] = self._string()
            if not self._punct(",", required=False):
                break
        self._punct(")")
        return found

    def _more(self) -> bool:
        """Whether a clause follows (anything but the end of the statement or its semicolon)."""
        token = self._peek()
        return token is not None and not (token.kind == "punct" and token.text == ";")

    def _end(self) -> None:
        self._punct(";", required=False)
        if self._peek() is not None:
            raise self._fail("end of statement")

    # -- statements ---------------------------------------------------------------------------------------

    def statement(self) -> Statement:
        if self._accept("CREATE"):
            if self._accept("DATABASE") or self._accept("SCHEMA"):
                return self._create_database()
            external = self._accept("EXTERNAL")
            if self._accept("TABLE"):
                return self._create_table(external)
            raise self._fail("DATABASE, SCHEMA or [EXTERNAL] TABLE")
        if self._accept("DROP"):
            if self._accept("DATABASE") or self._accept("SCHEMA"):
                if_exists = self._accept("IF", "EXISTS")
                name = self._name().lower()
                cascade = self._accept("CASCADE")
                if not cascade:
                    self._accept("RESTRICT")
                self._end()
                return DropDatabase(name, if_exists, cascade)
            self._expect("TABLE")
            if_exists = self._accept("IF", "EXISTS")
            database, name = self._qualified()
            self._accept("PURGE")
            self._end()
            return DropTable(database, name, if_exists)
        raise self._fail("CREATE or DROP")

    def _create_database(self) -> CreateDatabase:
        if_not_exists = self._accept("IF", "NOT", "EXISTS")
        name = self._name().lower()
        while self._more():
            if self._accept("COMMENT") or self._accept("LOCATION"):
                self._string()
            elif self._accept("WITH", "DBPROPERTIES"):
                self._properties()
            else:
                raise self._fail("COMMENT, LOCATION or WITH DBPROPERTIES")
        self._end()
        return CreateDatabase(name, if_not_exists)

    def _create_table(self, external: bool) -> CreateTable:
        if_not_exists = self._accept("IF", "NOT", "EXISTS")
        database, name = self._qualified()
        if self._accept("AS"):
            raise QueryFailure(NOT_SUPPORTED.format(what="CREATE TABLE AS SELECT"))
        if not external:
            raise QueryFailure(f"FAILED: SemanticException table {database}.{name}: only CREATE EXTERNAL TABLE over S3 "
                               "is emulated offline (Iceberg and managed tables are not); add EXTERNAL")
        columns = self._columns()
        clauses = _Clauses()
        while self._more():
            self._clause(clauses)
        self._end()
        return CreateTable(clauses.table(database, name, columns), if_not_exists)

    def _columns(self) -> tuple[TableColumn, ...]:
        self._punct("(")
        columns = []
        while True:
            declared = self._name()
            hive_type, duck_type = self._type()
            if self._accept("COMMENT"):
                self._string()
            columns.append(TableColumn(declared.lower(), declared, hive_type, duck_type))
            if not self._punct(",", required=False):
                break
        self._punct(")")
        names = [c.name for c in columns]
        duplicated = sorted({n for n in names if names.count(n) > 1})
        if duplicated:
            raise QueryFailure(f"FAILED: SemanticException column {duplicated[0]} is declared twice")
        return tuple(columns)

    def _type(self) -> tuple[str, str]:
        """(Hive type as written, lowercased; DuckDB type) of one column or field."""
        word = self._name().lower()
        if word in ("array", "map", "struct"):
            return self._complex(word)
        if word not in _SCALARS:
            raise _parse_error(self._sql, self._tokens[self._at - 1].pos, f"unknown column type {word!r}")
        if word == "double":
            self._accept("PRECISION")
        params: list[str] = []
        if self._punct("(", required=False):
            params.append(self._name())
            while self._punct(",", required=False):
                params.append(self._name())
            self._punct(")")
        hive = f"{word}({','.join(params)})" if params else word
        if word == "decimal":
            return hive, f"DECIMAL({','.join(params) or '10,0'})"
        return hive, _SCALARS[word]

    def _complex(self, word: str) -> tuple[str, str]:
        self._punct("<")
        if word == "array":
            hive, duck = self._type()
            self._punct(">")
            return f"array<{hive}>", f"{duck}[]"
        if word == "map":
            key_hive, key_duck = self._type()
            self._punct(",")
            value_hive, value_duck = self._type()
            self._punct(">")
            return f"map<{key_hive},{value_hive}>", f"MAP({key_duck}, {value_duck})"
        fields = []
        while True:
            field_name = self._name()
            self._punct(":")
            fields.append((field_name, *self._type()))
            if not self._punct(",", required=False):
                break
        self._punct(">")
        hive = ",".join(f"{n}:{h}" for n, h, _ in fields)
        duck = ", ".join('"' + n.replace('"', '""') + f'" {d}' for n, _, d in fields)
        return f"struct<{hive}>", f"STRUCT({duck})"

    def _clause(self, clauses: _Clauses) -> None:
        if self._accept("COMMENT"):
            self._string()
        elif self._accept("PARTITIONED", "BY"):
            raise QueryFailure(f"FAILED: SemanticException {PARTITIONS_REFUSED}")
        elif self._accept("CLUSTERED") or self._accept("SKEWED") or self._accept("SORTED"):
            raise QueryFailure(NOT_SUPPORTED.format(what="a bucketed or skewed table"))
        elif self._accept("ROW", "FORMAT", "SERDE"):
            clauses.serde = self._string()
            if self._accept("WITH", "SERDEPROPERTIES"):
                clauses.serde_properties.update(self._properties())
        elif self._accept("ROW", "FORMAT", "DELIMITED"):
            self._delimited(clauses)
        elif self._accept("WITH", "SERDEPROPERTIES"):
            clauses.serde_properties.update(self._properties())
        elif self._accept("STORED", "AS", "INPUTFORMAT"):
            clauses.input_format = self._string()
            self._expect("OUTPUTFORMAT")
            self._string()
        elif self._accept("STORED", "AS"):
            clauses.stored_as = self._name().lower()
        elif self._accept("LOCATION"):
            clauses.location = self._string()
        elif self._accept("TBLPROPERTIES"):
            clauses.table_properties.update(self._properties())
        else:
            raise self._fail("COMMENT, ROW FORMAT, STORED AS, LOCATION or TBLPROPERTIES")

    def _delimited(self, clauses: _Clauses) -> None:
        clauses.delimited = True
        while True:
            if self._accept("FIELDS", "TERMINATED", "BY"):
                clauses.serde_properties["field.delim"] = self._string()
                if self._accept("ESCAPED", "BY"):
                    clauses.serde_properties["escape.delim"] = self._string()
            elif self._accept("COLLECTION", "ITEMS", "TERMINATED", "BY") or self._accept("MAP", "KEYS", "TERMINATED", "BY"):
                self._string()
            elif self._accept("LINES", "TERMINATED", "BY"):
                if self._string() != "\n":
                    raise QueryFailure("FAILED: SemanticException LINES TERMINATED BY supports only '\\n'")
            elif self._accept("NULL", "DEFINED", "AS"):
                clauses.serde_properties["serialization.null.format"] = self._string()
            else:
                return


class _Clauses:
    """What a CREATE TABLE's clauses said, gathered in any order, then made into one table."""

    def __init__(self) -> None:
        self.serde = ""
        self.serde_properties: dict[str, str] = {}
        self.delimited = False
        self.input_format = ""
        self.stored_as = ""
        self.location = ""
        self.table_properties: dict[str, str] = {}

    def data_format(self) -> str:
        serde = self.serde.lower()
        if serde:
            if serde not in _SERDES:
                raise QueryFailure(NOT_SUPPORTED.format(what=f"SerDe {self.serde}") + " (emulated SerDes: "
                                   "ParquetHiveSerDe, OpenCSVSerde, LazySimpleSerDe, org.openx.data.jsonserde.JsonSerDe)")
            return _SERDES[serde]
        if self.stored_as:
            formats = {"parquet": PARQUET, "textfile": TEXT}
            if self.stored_as not in formats:
                raise QueryFailure(NOT_SUPPORTED.format(what=f"STORED AS {self.stored_as.upper()}") +
                                   " (emulated: PARQUET, TEXTFILE)")
            return formats[self.stored_as]
        return PARQUET if "parquet" in self.input_format.lower() else TEXT

    def table(self, database: str, name: str, columns: tuple[TableColumn, ...]) -> TableDef:
        match = re.match(r"^s3a?://([^/]+)/?(.*)$", self.location)
        if match is None:
            raise QueryFailure(f"FAILED: SemanticException table {database}.{name}: LOCATION "
                               f"{self.location or '(none)'} is not an s3:// location; give LOCATION 's3://bucket/prefix/'")
        prefix = match.group(2)
        if prefix and not prefix.endswith("/"):
            prefix += "/"
        data_format = self.data_format()
        props = self.serde_properties
        try:
            skip = int(self.table_properties.get("skip.header.line.count", "0"))
        except ValueError as exc:
            raise QueryFailure("FAILED: SemanticException TBLPROPERTIES 'skip.header.line.count' must be a whole "
                               "number") from exc
        if data_format == CSV:
            options = {"separator": props.get("separatorchar", ","), "quote": props.get("quotechar", '"'),
                       "escape": props.get("escapechar", "\\")}
        else:
            options = {"separator": props.get("field.delim", props.get("serialization.format", "\x01")),
                       "quote": "", "escape": props.get("escape.delim", "")}
        if data_format == TEXT and options["separator"] == "1":  # serialization.format '1' means Ctrl-A
            options["separator"] = "\x01"
        return TableDef(database, name, columns, data_format, match.group(1), prefix,
                        "symlinktextinputformat" in self.input_format.lower(),
                        null_text=props.get("serialization.null.format", "\\N"), skip_header_lines=skip,
                        ignore_malformed=props.get("ignore.malformed.json", "false").lower() == "true", **options)
