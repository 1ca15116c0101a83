"""Scan and Query pages written fast, byte for byte as moto writes them.

moto answers a page in three walks over every item: `DynamoResult` turns the items' `DynamoType` trees
into plain dicts (`dynamo_to_dict`), then its response serializer walks the botocore shape of every
attribute (about a millisecond per item). A Scan or Query page that holds only items, counts and a start
key is written here in one walk instead, straight from the `DynamoType` trees, in the output shape's
member order and with moto's encodings (base64 blobs, `json.dumps` defaults). Anything this writer does
not know how moto would write (another member, an odd value) goes to moto's own path, whole.

To keep the items unconverted until the page is written, `DynamoResult` converts lazily (on the first
read of `.result`, which every other operation does as before), and a Scan or Query that asks for no
consumed capacity skips moto's capacity wrapper, which reads `.result` only to add nothing.
"""

from __future__ import annotations

import base64
import json
import threading
from typing import Any

from moto import settings as moto_settings
from moto.dynamodb.models.dynamo_type import DynamoType
from moto.dynamodb.models.utilities import dynamo_to_dict
from moto.dynamodb.responses import DynamoHandler, DynamoResult

_moto_execute_result = DynamoResult.execute_result
_moto_handlers = {"Scan": DynamoHandler.scan, "Query": DynamoHandler.query}
_PENDING = object()
_TEXT = frozenset({str})
_PAGE_MEMBERS = frozenset({"Items", "Count", "ScannedCount", "LastEvaluatedKey"})
_installed = False
_install_lock = threading.Lock()
enabled = True  # the world's switch (`DynamoDBEngine.indexed_scan`), for the differential tests


class _Unexpected(Exception):
    """A value the fast writer does not know how moto would write: moto writes the page."""


# -- one walk from DynamoType to the written page --------------------------------------------------------


def _blob(value: Any) -> str:
    """A B value as moto writes it: raw bytes (a base64 text from the wire is decoded first), re-encoded."""
    if isinstance(value, str):
        value = base64.b64decode(value)
    elif not isinstance(value, bytes):
        raise _Unexpected
    return base64.b64encode(value).strip().decode("utf-8")


def _strings(values: Any) -> list[str]:
    if not isinstance(values, list) or not set(map(type, values)) <= _TEXT:
        raise _Unexpected
    return values


def _attribute(attribute: Any) -> dict[str, Any]:
    if type(attribute) is not DynamoType:
        raise _Unexpected
    kind, value = attribute.type, attribute.value
    if kind in ("S", "N"):
        if type(value) is not str:
            raise _Unexpected
        return {kind: value}
    if kind == "M":
        return {kind: _item(value)}
    if kind == "L":
        if not isinstance(value, list):
            raise _Unexpected
        return {kind: [_attribute(v) for v in value]}
    if kind in ("SS", "NS"):
        return {kind: _strings(value)}
    if kind == "B":
        return {kind: _blob(value)}
    if kind == "BS":
        if not isinstance(value, list):
            raise _Unexpected
        return {kind: [_blob(v) for v in value]}
    if kind in ("NULL", "BOOL") and type(value) is bool:
        return {kind: value}
    raise _Unexpected


def _item(attributes: Any) -> dict[str, Any]:
    if not isinstance(attributes, dict):
        raise _Unexpected
    return {name: _attribute(attribute) for name, attribute in attributes.items()}


def _page(result: Any, members: Any) -> str:
    """The page's body, or _Unexpected when it holds anything but items, counts and a start key."""
    if not isinstance(result, dict) or not set(result) <= _PAGE_MEMBERS:
        raise _Unexpected
    written: dict[str, Any] = {}
    for member in members:  # the output shape's order
        value = result.get(member)
        if value is None:
            continue
        if member == "Items":
            if not isinstance(value, list):
                raise _Unexpected
            written[member] = [_item(item) for item in value]
        elif member == "LastEvaluatedKey":
            written[member] = _item(value)
        elif type(value) is int:  # Count, ScannedCount
            written[member] = value
        else:
            raise _Unexpected
    return json.dumps(written)


# -- the hooks into moto --------------------------------------------------------------------------------


def _lazy_init(self: DynamoResult, result: object) -> None:
    self._drharness_raw = result
    self._result = _PENDING


def _lazy_result(self: DynamoResult) -> object:
    if self._result is _PENDING:
        self._result = dynamo_to_dict(self._drharness_raw)
    return self._result


def _fast_page(self: DynamoResult, context: Any) -> Any:
    operation = context.operation_model
    if (self._result is not _PENDING or not enabled or moto_settings.PRETTIFY_RESPONSES
            or operation.name not in _moto_handlers):
        return _moto_execute_result(self, context)
    try:
        body = _page(self._drharness_raw, operation.output_shape.members)
    except (_Unexpected, TypeError, ValueError):
        return _moto_execute_result(self, context)
    # Status and headers as moto makes them, from a page with nothing in it; the body is this one.
    status, headers, _ = _moto_execute_result(DynamoResult({}), context)
    return status, headers, body


def _without_capacity(operation: str) -> Any:
    wrapped = _moto_handlers[operation]
    unwrapped = wrapped.__wrapped__  # functools.wraps of moto's include_consumed_capacity

    def handle(self: DynamoHandler) -> Any:
        if enabled and self.body.get("ReturnConsumedCapacity", "NONE") == "NONE":
            return unwrapped(self)
        return wrapped(self)

    handle.__name__ = wrapped.__name__
    return handle


def install() -> None:
    """Write every Scan and Query page this way from now on (once per process; moto is per process)."""
    global _installed
    with _install_lock:
        if _installed:
            return
        DynamoResult.__init__ = _lazy_init  # type: ignore[method-assign]
        DynamoResult.result = property(_lazy_result)  # type: ignore[assignment,method-assign]
        DynamoResult.execute_result = _fast_page  # type: ignore[method-assign]
        DynamoHandler.scan = _without_capacity("Scan")  # type: ignore[method-assign]
        DynamoHandler.query = _without_capacity("Query")  # type: ignore[method-assign]
        _installed = True
