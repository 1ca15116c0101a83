"""Athena query executions as the world keeps them, the failures a query ends with, and the words Athena uses.

A query execution moves QUEUED -> RUNNING -> SUCCEEDED | FAILED | CANCELLED, as
https://docs.aws.amazon.com/athena/latest/APIReference/API_QueryExecutionStatus.html describes; a failed
one carries the reason in Athena's form (`ERROR_NAME: line L:C: message`), so a caller reads the
same thing offline as in an account.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

from drharness.errors import WorldError

QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELLED = "QUEUED", "RUNNING", "SUCCEEDED", "FAILED", "CANCELLED"
TERMINAL = (SUCCEEDED, FAILED, CANCELLED)
CATALOG = "awsdatacatalog"  # the only data catalog the world has (AwsDataCatalog; names are case-insensitive)
DEFAULT_DATABASE = "default"  # every account's catalog starts with it, as Athena's does
DEFAULT_WORK_GROUP = "primary"
MAX_RESULTS = 1000  # GetQueryResults
MAX_LIST_RESULTS = 50  # ListQueryExecutions
ENGINE_VERSION = {"SelectedEngineVersion": "AUTO", "EffectiveEngineVersion": "Athena engine version 3"}

NO_OUTPUT_LOCATION = ("No output location provided. An output location is required either through the Workgroup "
                      "result configuration setting or as an API input.")
NOT_FOUND = "QueryExecution {id} was not found"
NOT_FINISHED = "Query has not yet finished. Current state: {state}"
NOT_SUCCEEDED = "Query did not finish successfully. Final query state: {state} ({reason})"
MAX_RESULTS_EXCEEDED = ("1 validation error detected: Value '{value}' at 'maxResults' failed to satisfy constraint: "
                        "Member must have value less than or equal to {limit}")
BAD_TOKEN = "NextToken {token!r} is not one this query's results gave; start again without NextToken"
WORK_GROUP_NOT_FOUND = "WorkGroup {name} is not found."
WORK_GROUP_DISABLED = "WorkGroup {name} is disabled."
CANCELLED_REASON = "Query was cancelled by user"
OUTPUT_BUCKET = "Unable to verify/create output bucket {bucket}"
NOT_SUPPORTED = ("NOT_SUPPORTED: {what} is not emulated by the offline world's Athena, which runs SELECT / WITH "
                 "queries, CREATE / DROP DATABASE, CREATE EXTERNAL TABLE and DROP TABLE; run it against an account")

# AthenaError.ErrorCategory: 1 system, 2 user, 3 other
# (https://docs.aws.amazon.com/athena/latest/ug/error-reference.html).
USER_ERROR, SYSTEM_ERROR = 2, 1


class QueryFailure(WorldError):
    """A query cannot run or its statement fails: it ends FAILED with this reason, in Athena's words."""

    def __init__(self, reason: str, category: int = USER_ERROR) -> None:
        super().__init__(reason)
        self.reason = reason
        self.category = category


@dataclass(frozen=True)
class Column:
    """One column of a result: its label and Athena type (varchar, bigint, decimal(10,2) as decimal, ...)."""

    name: str
    type: str
    precision: int = 0
    scale: int = 0


@dataclass(frozen=True)
class Result:
    """What a finished statement gave: columns and rows (text as Athena renders it, None for NULL)."""

    columns: tuple[Column, ...] = ()
    rows: tuple[tuple[str | None, ...], ...] = ()
    scanned_bytes: int = 0


@dataclass
class Execution:
    """One query execution: what was asked, where its result goes, and its state as it moves."""

    id: str
    query: str
    region: str
    work_group: str
    statement_type: str  # DDL | DML | UTILITY
    substatement_type: str  # SELECT, CREATE_TABLE, DROP_DATABASE, ...
    database: str | None
    catalog: str | None
    output_location: str  # s3://bucket/prefix/{id}.csv (DML) or .txt (DDL), as Athena reports it
    submitted: float  # world clock, epoch seconds
    state: str = QUEUED
    reason: str = ""
    error_category: int = 0
    started_monotonic: float | None = None
    completed: float | None = None
    engine_ms: int = 0
    queue_ms: int = 0
    total_ms: int = 0
    result: Result = field(default_factory=Result)
    history: list[tuple[str, float]] = field(default_factory=list)
    cancel: threading.Event = field(default_factory=threading.Event)
    submitted_monotonic: float = field(default_factory=time.monotonic)

    def render(self) -> dict[str, Any]:
        """This execution as GetQueryExecution answers it."""
        status: dict[str, Any] = {"State": self.state, "SubmissionDateTime": self.submitted}
        if self.reason:
            status["StateChangeReason"] = self.reason
        if self.completed is not None:
            status["CompletionDateTime"] = self.completed
        if self.state == FAILED:
            status["AthenaError"] = {"ErrorCategory": self.error_category or USER_ERROR, "ErrorType": 0,
                                     "Retryable": False, "ErrorMessage": self.reason}
        context = {k: v for k, v in (("Database", self.database), ("Catalog", self.catalog)) if v}
        return {
            "QueryExecutionId": self.id,
            "Query": self.query,
            "StatementType": self.statement_type,
            "SubstatementType": self.substatement_type,
            "ResultConfiguration": {"OutputLocation": self.output_location},
            "QueryExecutionContext": context,
            "Status": status,
            "Statistics": {
                "EngineExecutionTimeInMillis": self.engine_ms,
                "DataScannedInBytes": self.result.scanned_bytes,
                "TotalExecutionTimeInMillis": self.total_ms,
                "QueryQueueTimeInMillis": self.queue_ms,
            },
            "WorkGroup": self.work_group,
            "EngineVersion": dict(ENGINE_VERSION),
        }
