"""Amazon Athena for the offline world: queries that run, with DuckDB, over the world's own S3 objects.

moto stores Athena queries and never runs them. Here StartQueryExecution queues the query and runs it on
a thread of its own (at most `concurrency` at once; the others wait QUEUED), so a client polls
GetQueryExecution through QUEUED -> RUNNING -> SUCCEEDED | FAILED | CANCELLED as it does on AWS
(https://docs.aws.amazon.com/athena/latest/APIReference/API_StartQueryExecution.html,
.../API_GetQueryExecution.html, .../API_GetQueryResults.html, .../API_StopQueryExecution.html).

- DDL (CREATE / DROP DATABASE, CREATE EXTERNAL TABLE, DROP TABLE; `ddl.py`) changes the world's catalog
  (`catalog.py`), per account and region; Glue's API does not see it.
- SELECT / WITH runs in DuckDB over the named tables' files (`query.py`, `sources.py`); the dialect is
  DuckDB's, and the SQL is the one sent to AWS.
- The result goes to `{OutputLocation}/{QueryExecutionId}.csv` (`.txt`, empty, for DDL), the output
  location being the request's or its work group's (the work group's when it enforces its configuration);
  none at all is refused with InvalidRequestException, as Athena refuses it. No `.csv.metadata` is written.
- GetQueryResults pages the rows (header row first, MaxResults at most 1000); BatchGetQueryExecution and
  ListQueryExecutions answer from the same executions. Work groups and everything else stay moto's.

Statistics are the world's own timings and the bytes its S3 served, not Athena's figures.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from drharness.world.engine import BaseEngine
from drharness.world.plane import Plane
from drharness.world.services.athena.catalog import Catalog
from drharness.world.services.athena.ddl import parse_ddl, statement_kind
from drharness.world.services.athena.models import (
    BAD_TOKEN,
    CANCELLED,
    CANCELLED_REASON,
    CATALOG,
    DEFAULT_DATABASE,
    DEFAULT_WORK_GROUP,
    FAILED,
    MAX_LIST_RESULTS,
    MAX_RESULTS,
    MAX_RESULTS_EXCEEDED,
    NO_OUTPUT_LOCATION,
    NOT_FINISHED,
    NOT_FOUND,
    NOT_SUCCEEDED,
    NOT_SUPPORTED,
    OUTPUT_BUCKET,
    QUEUED,
    RUNNING,
    SUCCEEDED,
    SYSTEM_ERROR,
    TERMINAL,
    WORK_GROUP_DISABLED,
    WORK_GROUP_NOT_FOUND,
    Execution,
    QueryFailure,
    Result,
)
from drharness.world.services.athena.query import Scope, run_select
from drharness.world.services.athena.results import (
    column_info,
    result_csv,
    result_rows,
    row_count,
)
from drharness.world.services.athena.sources import TableFiles
from drharness.world.wire import AwsError, AwsRequest, CapturedResponse, json_response

INVALID_REQUEST = "InvalidRequestException"
DDL_STATEMENTS = ("CREATE_DATABASE", "DROP_DATABASE", "CREATE_TABLE", "DROP_TABLE", "CREATE", "DROP")


class AthenaEngine(BaseEngine):
    """Runs Athena queries in the world; executions by id, the catalog per account and region."""

    def __init__(self, plane: Plane, concurrency: int = 2) -> None:
        self._plane = plane
        self.catalog = Catalog()
        self.queue_seconds = 0.0  # how long a query stays QUEUED before it may start (Athena's queueing)
        self._slots = threading.BoundedSemaphore(concurrency)
        self._lock = threading.Lock()
        self._executions: dict[str, Execution] = {}
        self._tokens: dict[str, str] = {}  # ClientRequestToken -> query execution id
        self._connections: dict[str, Any] = {}  # query execution id -> its running DuckDB connection

    # -- what tests and the control path can ask --------------------------------------------------------

    def history(self, query_id: str) -> list[tuple[str, float]]:
        """The states a query execution went through, with when (world clock, epoch seconds)."""
        with self._lock:
            found = self._executions.get(query_id)
            return list(found.history) if found else []

    # -- the HTTP path ------------------------------------------------------------------------------

    def before(self, request: AwsRequest) -> CapturedResponse | None:
        if request.service != "athena":
            return None
        handler = _HANDLERS.get(request.operation)
        if handler is None:
            return None  # work groups, named queries, data catalogs: moto's
        try:
            return json_response("athena", handler(self, request))
        except AwsError as exc:
            return exc.response("athena")

    def _start(self, request: AwsRequest) -> dict[str, Any]:
        body = request.params
        token = str(body.get("ClientRequestToken") or "")
        with self._lock:
            if token and token in self._tokens:
                return {"QueryExecutionId": self._tokens[token]}  # a retried start gets the query already queued
        query = str(body.get("QueryString") or "")
        work_group = str(body.get("WorkGroup") or DEFAULT_WORK_GROUP)
        output = self._output_location(request.region, work_group, body.get("ResultConfiguration") or {})
        context = body.get("QueryExecutionContext") or {}
        statement_type, substatement_type = statement_kind(query)
        query_id = str(uuid.uuid4())
        suffix = ".csv" if statement_type == "DML" else ".txt"
        execution = Execution(query_id, query, request.region, work_group, statement_type, substatement_type,
                              context.get("Database"), context.get("Catalog"),
                              f"{output.rstrip('/')}/{query_id}{suffix}", self._plane.now())
        execution.history.append((QUEUED, execution.submitted))
        with self._lock:
            self._executions[query_id] = execution
            if token:
                self._tokens[token] = query_id
        thread = threading.Thread(target=self._run, args=(execution,), name=f"drharness-athena-{query_id[:8]}", daemon=True)
        thread.start()
        return {"QueryExecutionId": query_id}

    def _output_location(self, region: str, work_group: str, requested: dict[str, Any]) -> str:
        try:
            found = self._plane.client("athena", region).get_work_group(WorkGroup=work_group).get("WorkGroup")
        except ClientError as exc:
            raise AwsError(INVALID_REQUEST, WORK_GROUP_NOT_FOUND.format(name=work_group)) from exc
        if not found:
            raise AwsError(INVALID_REQUEST, WORK_GROUP_NOT_FOUND.format(name=work_group))
        if str(found.get("State", "ENABLED")) == "DISABLED":
            raise AwsError(INVALID_REQUEST, WORK_GROUP_DISABLED.format(name=work_group))
        configuration = found.get("Configuration") or {}
        own = str((configuration.get("ResultConfiguration") or {}).get("OutputLocation") or "")
        asked = str(requested.get("OutputLocation") or "")
        location = own if (own and configuration.get("EnforceWorkGroupConfiguration")) else (asked or own)
        if not location:
            raise AwsError(INVALID_REQUEST, NO_OUTPUT_LOCATION)
        if not location.startswith("s3://") or len(location) <= len("s3://"):
            raise AwsError(INVALID_REQUEST, f"outputLocation {location!r} is not an s3://bucket/prefix/ location")
        return location

    def _known(self, query_id: str) -> Execution:
        with self._lock:
            found = self._executions.get(query_id)
        if found is None:
            raise AwsError(INVALID_REQUEST, NOT_FOUND.format(id=query_id))
        return found

    def _get(self, request: AwsRequest) -> dict[str, Any]:
        execution = self._known(str(request.params.get("QueryExecutionId", "")))
        with self._lock:
            return {"QueryExecution": execution.render()}

    def _batch_get(self, request: AwsRequest) -> dict[str, Any]:
        found, missing = [], []
        with self._lock:
            for query_id in [str(i) for i in request.params.get("QueryExecutionIds") or []]:
                execution = self._executions.get(query_id)
                if execution is None:
                    missing.append({"QueryExecutionId": query_id, "ErrorCode": "INVALID_INPUT",
                                    "ErrorMessage": NOT_FOUND.format(id=query_id)})
                else:
                    found.append(execution.render())
        return {"QueryExecutions": found, "UnprocessedQueryExecutionIds": missing}

    def _list(self, request: AwsRequest) -> dict[str, Any]:
        body = request.params
        limit = _limit(body, MAX_LIST_RESULTS)
        work_group = str(body.get("WorkGroup") or DEFAULT_WORK_GROUP)
        with self._lock:
            ids = [e.id for e in sorted(self._executions.values(), key=lambda e: e.submitted, reverse=True)
                   if e.work_group == work_group and e.region == request.region]
        start = _offset(body.get("NextToken"), "list")
        answer: dict[str, Any] = {"QueryExecutionIds": ids[start:start + limit]}
        if start + limit < len(ids):
            answer["NextToken"] = _token("list", start + limit)
        return answer

    def _results(self, request: AwsRequest) -> dict[str, Any]:
        body = request.params
        execution = self._known(str(body.get("QueryExecutionId", "")))
        limit = _limit(body, MAX_RESULTS)
        with self._lock:
            state, reason, result = execution.state, execution.reason, execution.result
        if state in (QUEUED, RUNNING):
            raise AwsError(INVALID_REQUEST, NOT_FINISHED.format(state=state))
        if state != SUCCEEDED:
            raise AwsError(INVALID_REQUEST, NOT_SUCCEEDED.format(state=state, reason=reason))
        start = _offset(body.get("NextToken"), execution.id)
        answer: dict[str, Any] = {
            "UpdateCount": 0,
            "ResultSet": {"Rows": result_rows(result, start, limit),
                          "ResultSetMetadata": {"ColumnInfo": column_info(result.columns)}},
        }
        if start + limit < row_count(result):
            answer["NextToken"] = _token(execution.id, start + limit)
        return answer

    def _stop(self, request: AwsRequest) -> dict[str, Any]:
        execution = self._known(str(request.params.get("QueryExecutionId", "")))
        with self._lock:
            if execution.state in TERMINAL:
                return {}
            execution.cancel.set()
            self._set(execution, CANCELLED, CANCELLED_REASON)
            connection = self._connections.get(execution.id)
        if connection is not None:
            with contextlib.suppress(Exception):  # the query may have finished meanwhile; it is CANCELLED either way
                connection.interrupt()
        return {}

    # -- running a query --------------------------------------------------------------------------------

    def _run(self, execution: Execution) -> None:
        try:
            with self._slots:  # QUEUED until a slot is free
                if self.queue_seconds > 0:
                    execution.cancel.wait(self.queue_seconds)
                with self._lock:
                    if execution.state != QUEUED:
                        return  # cancelled while queued
                    execution.started_monotonic = time.monotonic()
                    self._set(execution, RUNNING)
                self._outcome(execution)
        except Exception as exc:  # noqa: BLE001 - a query thread has nobody to raise to
            self._plane.report(f"athena query {execution.id}: {type(exc).__name__}: {exc}")

    def _outcome(self, execution: Execution) -> None:
        try:
            result = self._execute(execution)
        except QueryFailure as failure:
            self._finish(execution, FAILED, failure.reason, failure.category)
        except Exception as exc:  # noqa: BLE001 - the query fails with the reason; the world keeps it for its health answer
            self._plane.report(f"athena query {execution.id}: {type(exc).__name__}: {exc}")
            self._finish(execution, FAILED, f"GENERIC_INTERNAL_ERROR: {type(exc).__name__}: {exc}", SYSTEM_ERROR)
        else:
            self._finish(execution, SUCCEEDED, result=result)

    def _execute(self, execution: Execution) -> Result:
        s3 = self._plane.client("s3", execution.region)
        bucket, key = _split_s3(execution.output_location)
        try:
            s3.head_bucket(Bucket=bucket)
        except ClientError as exc:
            raise QueryFailure(OUTPUT_BUCKET.format(bucket=bucket)) from exc
        catalog = (execution.catalog or CATALOG).lower()
        if catalog != CATALOG:
            raise QueryFailure(f"CATALOG_NOT_FOUND: Catalog '{execution.catalog}' does not exist (the world has "
                               "AwsDataCatalog only)")
        database = (execution.database or DEFAULT_DATABASE).lower()
        if execution.statement_type == "DDL" and execution.substatement_type in DDL_STATEMENTS:  # or a ParseException
            self.catalog.apply(self._plane.account_id, execution.region, parse_ddl(execution.query, database))
            result = Result()
        elif execution.statement_type == "DML" and execution.substatement_type == "SELECT":
            scope = Scope(self.catalog, self._plane.account_id, execution.region, database)
            result = self._select(execution, scope, s3)
        else:
            raise QueryFailure(NOT_SUPPORTED.format(what=execution.substatement_type.replace("_", " ")))
        if execution.cancel.is_set():
            return result  # no result file for a cancelled query
        try:
            s3.put_object(Bucket=bucket, Key=key, Body=result_csv(result))
        except ClientError as exc:
            raise QueryFailure(f"Could not write the query result to {execution.output_location}: {exc}") from exc
        return result

    def _select(self, execution: Execution, scope: Scope, s3: Any) -> Result:
        with tempfile.TemporaryDirectory(prefix="drharness-athena-") as folder:
            workdir = Path(folder)
            try:
                return run_select(execution.query, scope, TableFiles(s3, workdir), workdir,
                                  lambda connection: self._register(execution, connection))
            finally:
                with self._lock:
                    self._connections.pop(execution.id, None)

    def _register(self, execution: Execution, connection: Any) -> None:
        with self._lock:
            self._connections[execution.id] = connection

    def _finish(self, execution: Execution, state: str, reason: str = "", category: int = 0,
                result: Result | None = None) -> None:
        with self._lock:
            if execution.state in TERMINAL:
                return  # stopped meanwhile: it stays CANCELLED
            if result is not None:
                execution.result = result
            execution.error_category = category
            self._set(execution, state, reason)

    def _set(self, execution: Execution, state: str, reason: str = "") -> None:
        """Move an execution to `state` (the engine's lock held), with its timings."""
        now, moment = self._plane.now(), time.monotonic()
        execution.state, execution.reason = state, reason
        execution.history.append((state, now))
        if state in TERMINAL:
            execution.completed = now
            started = execution.started_monotonic
            execution.queue_ms = int(((started or moment) - execution.submitted_monotonic) * 1000)
            execution.engine_ms = int((moment - started) * 1000) if started is not None else 0
            execution.total_ms = int((moment - execution.submitted_monotonic) * 1000)


def _split_s3(uri: str) -> tuple[str, str]:
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    return bucket, key


def _limit(body: dict[str, Any], most: int) -> int:
    asked = body.get("MaxResults")
    if asked is None:
        return most
    value = int(asked)
    if value > most:
        raise AwsError(INVALID_REQUEST, MAX_RESULTS_EXCEEDED.format(value=value, limit=most))
    return max(value, 1)


def _token(scope: str, offset: int) -> str:
    return base64.urlsafe_b64encode(f"{scope}/{offset}".encode()).decode()


def _offset(token: Any, scope: str) -> int:
    """Where the page a NextToken asks for starts; the token must be one this listing gave."""
    if not token:
        return 0
    try:
        issued_for, _, offset = base64.urlsafe_b64decode(str(token).encode()).decode().rpartition("/")
        if issued_for == scope and offset.isdigit():
            return int(offset)
    except (binascii.Error, UnicodeDecodeError):
        pass
    raise AwsError(INVALID_REQUEST, BAD_TOKEN.format(token=token))


_HANDLERS: dict[str, Callable[[AthenaEngine, AwsRequest], dict[str, Any]]] = {
    "StartQueryExecution": AthenaEngine._start,
    "GetQueryExecution": AthenaEngine._get,
    "BatchGetQueryExecution": AthenaEngine._batch_get,
    "ListQueryExecutions": AthenaEngine._list,
    "GetQueryResults": AthenaEngine._results,
    "StopQueryExecution": AthenaEngine._stop,
}
