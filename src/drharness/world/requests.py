"""Read what an AWS request is from its WSGI environ: service, region, operation, caller.

The fault layer and the data-plane engines match on this; nothing here changes the request.
"""

from __future__ import annotations

import io
import json
import re
import urllib.parse
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import botocore.session

# SigV4 signing names that differ from the botocore service name.
SIGNING_TO_SERVICE = {"monitoring": "cloudwatch", "email": "ses", "execute-api": "apigateway"}

_CREDENTIAL = re.compile(r"Credential=([^/,\s]+)/\d{8}/([a-z0-9-]+)/([a-z0-9-]+)/aws4_request")

_S3_MUTATING_PREFIXES = ("Put", "Delete", "Create", "Complete", "Copy", "Upload", "Restore", "Abort")


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

    @property
    def mutating(self) -> bool:
        op = self.operation
        if self.service == "s3":
            return op.startswith(_S3_MUTATING_PREFIXES)
        readonly = ("Get", "List", "Describe", "Head", "Query", "Scan", "BatchGet", "Check", "Lookup")
        return not op.startswith(readonly) and op != "Unknown"

    @property
    def s3_bucket(self) -> str | None:
        parts = self.path.lstrip("/").split("/", 1)
        return urllib.parse.unquote(parts[0]) if parts and parts[0] else None

    @property
    def s3_key(self) -> str | None:
        parts = self.path.lstrip("/").split("/", 1)
        return urllib.parse.unquote(parts[1]) if len(parts) == 2 and parts[1] else None


def _header_map(environ: dict[str, Any]) -> dict[str, str]:
    headers = {}
    for key, value in environ.items():
        if key.startswith("HTTP_"):
            headers[key[5:].replace("_", "-").lower()] = value
    if environ.get("CONTENT_TYPE"):
        headers["content-type"] = environ["CONTENT_TYPE"]
    if environ.get("CONTENT_LENGTH"):
        headers["content-length"] = environ["CONTENT_LENGTH"]
    return headers


def read_body(environ: dict[str, Any]) -> bytes:
    """Read the request body and put it back so the next application can read it again."""
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    body = environ["wsgi.input"].read(length) if length else b""
    environ["wsgi.input"] = io.BytesIO(body)
    return body


def classify(environ: dict[str, Any]) -> AwsRequest:
    """Work out service, region, operation and caller of an AWS request."""
    headers = _header_map(environ)
    query = urllib.parse.parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)
    auth = headers.get("authorization", "")
    match = _CREDENTIAL.search(auth)
    if not match and "X-Amz-Credential" in query:
        cred = query["X-Amz-Credential"][0].split("/")
        match_groups = (cred[0], cred[2], cred[3]) if len(cred) >= 4 else ("", "us-east-1", "")
    elif match:
        match_groups = (match.group(1), match.group(2), match.group(3))
    else:
        match_groups = ("", "us-east-1", "")
    access_key, region, signing = match_groups
    service = SIGNING_TO_SERVICE.get(signing, signing)
    path = environ.get("PATH_INFO", "/") or "/"
    method = environ.get("REQUEST_METHOD", "GET").upper()
    request = AwsRequest(
        method=method,
        path=path,
        query=query,
        headers=headers,
        service=service,
        region=region,
        access_key_id=access_key,
        operation="Unknown",
    )
    content_type = headers.get("content-type", "")
    if service != "s3" and (
        "json" in content_type or "x-www-form-urlencoded" in content_type or "x-amz-target" in headers
    ):
        request.body = read_body(environ)
    request.operation = _operation(request)
    if request.body and "json" in content_type:
        try:
            parsed = json.loads(request.body or b"{}")
            request.json_body = parsed if isinstance(parsed, dict) else {}
        except ValueError:
            request.json_body = {}
    return request


def _operation(request: AwsRequest) -> str:
    target = request.headers.get("x-amz-target")
    if target:
        return target.rsplit(".", 1)[-1]
    if "Action" in request.query:
        return request.query["Action"][0]
    if request.body and b"Action=" in request.body:
        form = urllib.parse.parse_qs(request.body.decode("utf-8", "replace"))
        if "Action" in form:
            return form["Action"][0]
    if request.service == "s3":
        return _s3_operation(request)
    if request.service:
        return _rest_operation(request.service, request.method, request.path)
    return "Unknown"


def _camel(word: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in re.split(r"[-_]", word))


_S3_BUCKET_LIST_QUERIES = {"versions": "ListObjectVersions", "uploads": "ListMultipartUploads"}
# Parameters of a listing, not sub-resources, even when sent empty (`delimiter=`).
_S3_LIST_PARAMETERS = frozenset({"delimiter", "prefix", "marker", "max-keys", "encoding-type", "list-type",
                                 "start-after", "continuation-token", "fetch-owner", "key-marker",
                                 "version-id-marker", "upload-id-marker", "x-id"})


def _s3_operation(request: AwsRequest) -> str:
    bucket, key, method, q = request.s3_bucket, request.s3_key, request.method, request.query
    if bucket is None:
        return "ListBuckets" if method == "GET" else "Unknown"
    if key is None:
        if method == "POST" and "delete" in q:
            return "DeleteObjects"
        if method == "HEAD":
            return "HeadBucket"
        if method == "GET":
            for name, operation in _S3_BUCKET_LIST_QUERIES.items():
                if name in q:
                    return operation
            if q.get("list-type") == ["2"]:
                return "ListObjectsV2"
        sub = [name for name in q if name and not q[name][0] and name not in _S3_LIST_PARAMETERS]
        verb = {"GET": "Get", "PUT": "Put", "DELETE": "Delete"}.get(method, "")
        if sub and verb:
            return f"{verb}Bucket{_camel(sub[0])}"
        return {"GET": "ListObjects", "PUT": "CreateBucket", "DELETE": "DeleteBucket"}.get(method, "Unknown")
    if method == "PUT":
        if "partNumber" in q and "uploadId" in q:
            return "UploadPartCopy" if "x-amz-copy-source" in request.headers else "UploadPart"
        if "tagging" in q:
            return "PutObjectTagging"
        if "acl" in q:
            return "PutObjectAcl"
        return "CopyObject" if "x-amz-copy-source" in request.headers else "PutObject"
    if method == "POST":
        if "uploads" in q:
            return "CreateMultipartUpload"
        if "uploadId" in q:
            return "CompleteMultipartUpload"
        if "restore" in q:
            return "RestoreObject"
        return "PostObject"
    if method == "DELETE":
        if "uploadId" in q:
            return "AbortMultipartUpload"
        return "DeleteObjectTagging" if "tagging" in q else "DeleteObject"
    if method == "GET":
        return "GetObjectTagging" if "tagging" in q else "GetObject"
    if method == "HEAD":
        return "HeadObject"
    return "Unknown"


@lru_cache(maxsize=64)
def _rest_routes(service: str) -> tuple[tuple[str, re.Pattern[str], int, str], ...]:
    try:
        model = botocore.session.get_session().get_service_model(service)
    except Exception:  # noqa: BLE001 - unknown service: no routes
        return ()
    routes = []
    for name in model.operation_names:
        http = model.operation_model(name).http
        uri = http.get("requestUri", "/").split("?")[0]
        literal = len(re.sub(r"\{[^}]+\}", "", uri))
        pattern = re.sub(r"\\\{[^}]+\\\+\\\}", ".+", re.escape(uri))
        pattern = re.sub(r"\\\{[^}]+\\\}", "[^/]+", pattern)
        routes.append((http.get("method", "POST"), re.compile(f"^{pattern}/?$"), literal, name))
    routes.sort(key=lambda route: -route[2])
    return tuple(routes)


def _rest_operation(service: str, method: str, path: str) -> str:
    for route_method, pattern, _, name in _rest_routes(service):
        if route_method == method and pattern.match(path):
            return name
    return "Unknown"


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
