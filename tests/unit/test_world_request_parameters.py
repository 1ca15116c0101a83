"""A request's input by member name, wherever its protocol put it: what the world's engines read."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest

from drharness.world.requests import classify
from drharness.world.wire import protocol_of

AUTH = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261205/eu-west-1/athena/aws4_request, SignedHeaders=host, Signature=0"


def environ(method: str, path: str, query: str = "", body: dict[str, Any] | None = None,
            target: str = "") -> dict[str, Any]:
    raw = json.dumps(body).encode() if body is not None else b""
    env: dict[str, Any] = {"REQUEST_METHOD": method, "PATH_INFO": path, "QUERY_STRING": query,
                           "HTTP_AUTHORIZATION": AUTH, "wsgi.input": io.BytesIO(raw)}
    if body is not None:
        env.update({"CONTENT_TYPE": "application/x-amz-json-1.1" if target else "application/json",
                    "CONTENT_LENGTH": str(len(raw))})
    if target:
        env["HTTP_X_AMZ_TARGET"] = target
    return env


def test_query_string_names_are_read_as_their_members_and_typed() -> None:
    auth = AUTH.replace("/athena/", "/backup/")
    env = environ("GET", "/backup-jobs/", "maxResults=25&state=COMPLETED&backupVaultName=vault")
    env["HTTP_AUTHORIZATION"] = auth
    request = classify(env)
    assert request.operation == "ListBackupJobs"
    assert request.params == {"MaxResults": 25, "ByState": "COMPLETED", "ByBackupVaultName": "vault"}


@pytest.mark.skipif(protocol_of("athena") != "rest-json", reason="this botocore sends Athena as JSON")
def test_a_rest_path_label_and_query_string_are_read_as_the_members_they_bind() -> None:
    request = classify(environ("GET", "/query-executions/q-123/results", "MaxResults=50&NextToken=t1"))
    assert request.operation == "GetQueryResults"
    assert request.params == {"QueryExecutionId": "q-123", "MaxResults": 50, "NextToken": "t1"}


def test_the_json_protocol_gives_the_same_parameters_from_its_body() -> None:
    body = {"QueryExecutionId": "q-123", "MaxResults": 50, "NextToken": "t1"}
    request = classify(environ("POST", "/", body=body, target="AmazonAthena.GetQueryResults"))
    assert request.operation == "GetQueryResults"
    assert request.params == body


def test_a_rest_body_keeps_its_members_beside_the_bound_ones() -> None:
    request = classify(environ("POST", "/query-executions", body={"QueryString": "SELECT 1"}))
    assert request.operation == "StartQueryExecution"
    assert request.params == {"QueryString": "SELECT 1"}
