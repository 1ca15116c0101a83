"""Read what an AWS request is from its WSGI environ: service, region, operation, caller.

The fault layer and the data-plane engines match on this; nothing here changes the request.
"""

from __future__ import annotations

import io
import json
import re
import urllib.parse
from functools import lru_cache
from typing import Any

import botocore.session

from drharness.world.wire import AwsRequest

# SigV4 signing names that differ from the botocore service name.
SIGNING_TO_SERVICE = {"monitoring": "cloudwatch", "email": "ses", "execute-api": "apigateway"}

_CREDENTIAL = re.compile(r"Credential=([^/,\s]+)/\d{8}/([a-z0-9-]+)/([a-z0-9-]+)/aws4_request")

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
    request.params = _parameters(request)
    return request


@lru_cache(maxsize=64)
def _bound_members(service: str, operation: str) -> tuple[tuple[str, str, str, Any], ...]:
    """(member, location, wire name, shape) of each input member bound to the REST path or query string."""
    try:
        shape = botocore.session.get_session().get_service_model(service).operation_model(operation).input_shape
    except Exception:  # noqa: BLE001 - unknown service or operation: nothing bound
        return ()
    if shape is None:
        return ()
    return tuple((member, str(m.serialization.get("location")), str(m.serialization.get("name", member)), m)
                 for member, m in shape.members.items() if m.serialization.get("location") in ("uri", "querystring"))


def _typed(shape: Any, raw: list[str]) -> Any:
    """A query-string value as its member's JSON type."""
    if shape.type_name == "list":
        return [_typed(shape.member, [value]) for value in raw]
    value = raw[0]
    if shape.type_name in ("integer", "long"):
        return int(value) if value.lstrip("-").isdigit() else value
    if shape.type_name == "boolean":
        return value.lower() == "true"
    return value


def _parameters(request: AwsRequest) -> dict[str, Any]:
    """The operation's input by member name: the JSON body, and for a REST protocol its path labels and query
    string folded in, so an engine reads `QueryExecutionId` alike whether botocore sent the service as JSON
    (in the body) or as REST (`GET /queries/{QueryExecutionId}`)."""
    if request.service == "s3" or request.operation == "Unknown" or not (request.path_params or request.query):
        return request.json_body
    params = dict(request.json_body)
    for member, location, name, shape in _bound_members(request.service, request.operation):
        if location == "uri" and _group(name) in request.path_params:
            params.setdefault(member, request.path_params[_group(name)])
        elif location == "querystring" and name in request.query:
            params.setdefault(member, _typed(shape, request.query[name]))
    return params


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
        operation, request.path_params = _rest_operation(request.service, request.method, request.path)
        return operation
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


_Route = tuple[str, "re.Pattern[str]", int, str]


def _label_pattern(uri: str, label: str) -> str:
    """A regex for a requestUri, each `{label}` a named group (`{label+}` may span slashes)."""
    pattern = re.escape(uri)
    pattern = re.sub(r"\\\{([^}+]+)\\\+\\\}", lambda m: f"(?P<{_group(m.group(1))}>.+)", pattern)
    return re.sub(r"\\\{([^}]+)\\\}", lambda m: f"(?P<{_group(m.group(1))}>{label})", pattern)


def _group(name: str) -> str:
    return re.sub(r"\W", "_", name)


@lru_cache(maxsize=64)
def _rest_routes(service: str, label: str) -> tuple[_Route, ...]:
    """(method, path regex, literal length, operation) of every operation, the most specific first."""
    try:
        model = botocore.session.get_session().get_service_model(service)
    except Exception:  # noqa: BLE001 - unknown service: no routes
        return ()
    routes = []
    for name in model.operation_names:
        http = model.operation_model(name).http
        uri = http.get("requestUri", "/").split("?")[0]
        literal = len(re.sub(r"\{[^}]+\}", "", uri))
        routes.append((http.get("method", "POST"), re.compile(f"^{_label_pattern(uri, label)}/?$"), literal, name))
    routes.sort(key=lambda route: -route[2])
    return tuple(routes)


def _rest_operation(service: str, method: str, path: str) -> tuple[str, dict[str, str]]:
    """The operation a REST path names and the values of its labels.

    Labels match one path segment first, as botocore sends them; a label holding an ARN with a slash
    (a DynamoDB table's, decoded from %2F) is matched across segments only when nothing else fits.
    """
    for label in ("[^/]+", ".+?"):
        for route_method, pattern, _, name in _rest_routes(service, label):
            match = pattern.match(path) if route_method == method else None
            if match:
                return name, {k: v for k, v in match.groupdict().items() if v is not None}
    return "Unknown", {}
