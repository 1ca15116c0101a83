"""The world's wire types: a request as the world reads it, a response as it answers, one AWS error.

Every other module of the world builds on these; this one imports nothing of the world.
"""

from __future__ import annotations

import json
import urllib.parse
import uuid
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import botocore.session

from drharness.errors import WorldError

INTERNAL_HEADER = "x-drharness-internal"

_S3_MUTATING_PREFIXES = ("Put", "Delete", "Create", "Complete", "Copy", "Upload", "Restore", "Abort")
_READONLY_PREFIXES = ("Get", "List", "Describe", "Head", "Query", "Scan", "BatchGet", "Check", "Lookup")


@dataclass
class AwsRequest:
    """One request as the world sees it."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    service: str
    region: str
    access_key_id: str
    operation: str
    body: bytes | None = None
    json_body: dict[str, Any] = field(default_factory=dict)
    path_params: dict[str, str] = field(default_factory=dict)  # the REST path's labels, by botocore's names
    # The operation's input by member name, wherever the protocol put it (JSON body, REST path, query string).
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def internal(self) -> bool:
        """Sent by the world's own clients: the fault layer lets it through untouched."""
        return self.headers.get(INTERNAL_HEADER) == "1"

    @property
    def mutating(self) -> bool:
        op = self.operation
        if self.service == "s3":
            return op.startswith(_S3_MUTATING_PREFIXES)
        return not op.startswith(_READONLY_PREFIXES) and op != "Unknown"

    @property
    def s3_bucket(self) -> str | None:
        parts = self.path.lstrip("/").split("/", 1)
        return urllib.parse.unquote(parts[0]) if parts and parts[0] else None

    @property
    def s3_key(self) -> str | None:
        parts = self.path.lstrip("/").split("/", 1)
        return urllib.parse.unquote(parts[1]) if len(parts) == 2 and parts[1] else None


@dataclass
class CapturedResponse:
    """An answer to one request: moto's, captured, or one the world made in its place."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes = b""
    drop: bool = False  # close the connection without answering: to the client the region is unreachable

    def header(self, name: str) -> str | None:
        lname = name.lower()
        for key, value in self.headers:
            if key.lower() == lname:
                return value
        return None

    def set_header(self, name: str, value: str) -> None:
        self.headers = [(k, v) for k, v in self.headers if k.lower() != name.lower()]
        self.headers.append((name, value))

    def set_body(self, body: bytes) -> None:
        self.body = body
        self.set_header("Content-Length", str(len(body)))

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


class AwsError(WorldError):
    """A request the world refuses as AWS would, with the error code (and HTTP status) AWS answers."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code = code
        self.status = status

    def response(self, service: str) -> CapturedResponse:
        """This refusal in the wire protocol of `service`."""
        return error_response(service, self.status, self.code, str(self))


@lru_cache(maxsize=64)
def protocol_of(service: str) -> str:
    """The wire protocol of a service, as botocore names it (json, query, rest-json, rest-xml, ec2)."""
    try:
        return botocore.session.get_session().get_service_model(service).metadata.get("protocol", "json")
    except Exception:  # noqa: BLE001
        return "json"


@lru_cache(maxsize=64)
def json_content_type(service: str) -> str:
    """The Content-Type of a JSON answer from `service`: application/json (rest-json) or its x-amz-json version."""
    if protocol_of(service) == "rest-json":
        return "application/json"
    try:
        version = botocore.session.get_session().get_service_model(service).metadata.get("jsonVersion", "1.0")
    except Exception:  # noqa: BLE001 - an unknown service answers as the oldest JSON protocol
        version = "1.0"
    return f"application/x-amz-json-{version}"


def error_response(service: str, status: int, code: str, message: str) -> CapturedResponse:
    """An AWS-shaped error in the wire protocol of `service`, so SDKs parse it as the real thing."""
    protocol = protocol_of(service)
    if protocol in ("json", "rest-json"):
        body = ('{"__type": "%s", "message": "%s"}' % (code, message.replace('"', "'"))).encode()
        headers = [("Content-Type", "application/x-amz-json-1.0"), ("x-amzn-ErrorType", code)]
    elif protocol == "ec2":
        body = (
            f"<Response><Errors><Error><Code>{code}</Code><Message>{message}</Message></Error></Errors>"
            f"<RequestID>drharness</RequestID></Response>"
        ).encode()
        headers = [("Content-Type", "text/xml")]
    elif protocol == "query":
        body = (
            f"<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error>"
            f"<RequestId>drharness</RequestId></ErrorResponse>"
        ).encode()
        headers = [("Content-Type", "text/xml")]
    else:
        body = f"<Error><Code>{code}</Code><Message>{message}</Message></Error>".encode()
        headers = [("Content-Type", "application/xml")]
    resp = CapturedResponse(status, headers)
    resp.set_body(body)
    return resp


def json_response(service: str, payload: dict[str, Any]) -> CapturedResponse:
    """A 200 answer carrying `payload` in the JSON protocol of `service`, for an engine that answers in moto's place."""
    headers = [("Content-Type", json_content_type(service)), ("x-amzn-RequestId", str(uuid.uuid4()))]
    response = CapturedResponse(200, headers)
    response.set_body(json.dumps(payload, default=str).encode())
    return response
