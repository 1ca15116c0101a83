"""A lean reader of ListObjectsV2 pages: the listed objects taken out of the raw page before botocore parses it.

`s3` installs it on the clients it lists with; everything else about the comparison lives there.
"""

from __future__ import annotations

import contextlib
import re
import threading
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from typing import Any

from botocore import handlers as botocore_handlers
from botocore.compat import unquote_str

# botocore's generic parser costs about 0.2 ms of CPU per listed object (most of it parsing LastModified
# with dateutil), and its check for an error inside a 200 answer parses every S3 page once more before
# that. A large comparison would be CPU-bound in the client. So our own listing calls take the Contents
# out of the raw page first (`_parse_listing`), in one handler that runs ahead of botocore's (and then
# calls botocore's 200 check on what is left), and hand botocore a page without them. The flag is per
# thread, so other callers of the same client get botocore's full parse as usual.
_LEAN = threading.local()
_BEFORE_PARSE = "before-parse.s3.*"
_LEAN_UNIQUE_ID = "drharness-lean-listing"
_LEAN_FIELD = "DrharnessObjects"
# The tree fallback holds one page's element tree at a time: parsing holds the GIL anyway, and
# concurrent trees (about 1 MiB per 1000 objects) would make peak memory depend on thread timing.
_PARSE_LOCK = threading.Lock()
_INSTALL_LOCK = threading.Lock()

ListedObject = tuple[str, int, str, bool]  # key, size, ETag without quotes, a SHA256 checksum listed


_CONTENTS_TAG = re.compile(rb"<(?:[\w.-]+:)?Contents[\s/>]")  # any Contents element, as S3 writes it or not


class _Unusual(Exception):
    """A page laid out differently from S3's own (whitespace, other prefixes): parse it as a tree."""


_XML_REFERENCE = re.compile(r"&(?:(amp|lt|gt|quot|apos)|#([0-9]+)|#x([0-9A-Fa-f]+));")
_XML_ENTITIES = {"amp": "&", "lt": "<", "gt": ">", "quot": '"', "apos": "'"}


def _xml_reference(match: re.Match[str]) -> str:
    name, decimal, hexadecimal = match.groups()
    return _XML_ENTITIES[name] if name else chr(int(decimal) if decimal else int(hexadecimal, 16))


def _xml_text(text: str) -> str:
    """XML character data as text: S3 writes &quot; around ETags, &amp; and &#13; in keys; a literal
    carriage return reads as a line feed, as in every XML parser."""
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    if "&" not in text:
        return text
    if "&" in _XML_REFERENCE.sub("", text):
        raise _Unusual  # not well-formed: let the XML parser say so
    return _XML_REFERENCE.sub(_xml_reference, text)


# One listed object as S3 writes it (moto writes the same, without the optional elements). No `<` is
# literal in XML text, so each match is exactly one element and cannot run into the next.
_S3_CONTENTS = re.compile(
    r"<Contents><Key>([^<]*)</Key><LastModified>[^<]*</LastModified><ETag>([^<]*)</ETag>"
    r"((?:<ChecksumAlgorithm>[^<]*</ChecksumAlgorithm>)*)(?:<ChecksumType>[^<]*</ChecksumType>)?"
    r"<Size>([0-9]+)</Size>.*?</Contents>",
    re.S,
)


def _scan_contents(region: str, encoded: bool) -> list[ListedObject]:
    """The objects of a run of adjacent `<Contents>` elements in S3's own layout (about 0.6 µs each)."""
    count = region.count("<Contents>")
    rows = _S3_CONTENTS.findall(region)
    if len(rows) != count or region.count("</Contents><Contents>") != count - 1:
        raise _Unusual  # an element laid out otherwise, or something between two of them
    objects: list[ListedObject] = []
    for key, etag, algorithms, size in rows:
        if "&" in key or "\r" in key:
            key = _xml_text(key)
        if encoded and ("%" in key or "+" in key):
            key = unquote_str(key)
        if "&" in etag or "\r" in etag:
            etag = _xml_text(etag)
        objects.append((key, int(size), etag.strip('"'), ">SHA256<" in algorithms))
    return objects


def _parse_listing(body: bytes) -> tuple[list[ListedObject], bytes]:
    """(key, size, ETag, SHA256 listed) of each listed object, and the page without its Contents.

    S3 writes the Contents of a page one after the other, so they are cut out as one run and read with
    one regular expression; a page laid out any other way is parsed as an XML tree (the same answer,
    about three times slower).
    """
    first = body.find(b"<Contents>")
    if first < 0:
        return _parse_listing_tree(body) if _CONTENTS_TAG.search(body) else ([], body)
    end = body.rfind(b"</Contents>") + len(b"</Contents>")
    rest = body[:first] + body[end:]
    if _CONTENTS_TAG.search(rest):
        return _parse_listing_tree(body)
    try:
        objects = _scan_contents(body[first:end].decode("utf-8"), b"<EncodingType>url</EncodingType>" in rest)
    except (_Unusual, ValueError, UnicodeDecodeError):
        return _parse_listing_tree(body)
    return objects, rest


def _parse_listing_tree(body: bytes) -> tuple[list[ListedObject], bytes]:
    with _PARSE_LOCK:
        root = ET.fromstring(body)
        ns = root.tag[: root.tag.index("}") + 1] if root.tag.startswith("{") else ""
        encoded = root.findtext(f"{ns}EncodingType") == "url"
        key_tag, size_tag, etag_tag, algo_tag = f"{ns}Key", f"{ns}Size", f"{ns}ETag", f"{ns}ChecksumAlgorithm"
        contents_tag = f"{ns}Contents"
        objects = []
        for element in root.iterfind(contents_tag):
            key = element.findtext(key_tag) or ""
            objects.append((
                unquote_str(key) if encoded else key,
                int(element.findtext(size_tag) or 0),
                (element.findtext(etag_tag) or "").strip('"'),
                any(a.text == "SHA256" for a in element.iterfind(algo_tag)),
            ))
        root[:] = [child for child in root if child.tag != contents_tag]
        return objects, ET.tostring(root)


def _lean_hook(check_200: Callable[..., Any] | None) -> Callable[..., None]:
    def before_parse(operation_model: Any, response_dict: dict[str, Any],
                     customized_response_dict: dict[str, Any], **kwargs: Any) -> None:
        if (getattr(_LEAN, "active", False) and operation_model.name == "ListObjectsV2"
                and response_dict.get("status_code", 500) < 300 and response_dict.get("body")):
            objects, response_dict["body"] = _parse_listing(response_dict["body"])
            customized_response_dict[_LEAN_FIELD] = objects
        if check_200 is not None:
            check_200(operation_model=operation_model, response_dict=response_dict,
                      customized_response_dict=customized_response_dict, **kwargs)

    return before_parse


def _install_lean_hook(client: Any) -> None:
    """Put the lean listing ahead of botocore's 200 check on this client (once per client)."""
    events = getattr(getattr(client, "meta", None), "events", None)
    if events is None or getattr(client.meta, "drharness_lean", False):
        return
    with _INSTALL_LOCK:
        if getattr(client.meta, "drharness_lean", False):
            return
        check_200 = getattr(botocore_handlers, "_handle_200_error", None)
        # Ours first, then botocore's own out: a call made meanwhile on another thread runs the check
        # twice, never not at all.
        events.register_first(_BEFORE_PARSE, _lean_hook(check_200), unique_id=_LEAN_UNIQUE_ID)
        if check_200 is not None:
            events.unregister(_BEFORE_PARSE, check_200)
        client.meta.drharness_lean = True


@contextlib.contextmanager
def _lean_listing() -> Iterator[None]:
    """Let the listing calls this thread makes meanwhile be read by the lean reader."""
    _LEAN.active = True
    try:
        yield
    finally:
        _LEAN.active = False
