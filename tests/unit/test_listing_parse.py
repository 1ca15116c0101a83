"""The lean ListObjectsV2 page reader equals an XML parser's reading, whatever the keys and the layout."""

from __future__ import annotations

import re
import urllib.parse
from typing import Any
from xml.sax.saxutils import escape

import botocore.session
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drharness.instruments.consistency import s3 as lean

NS = "http://s3.amazonaws.com/doc/2006-03-01/"
# XML 1.0 allows these (and S3 writes the awkward ones as character references).
KEY_CHARS = st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00\ufffe\uffff",
                          max_codepoint=0x2FFFF).filter(lambda c: c in "\t\n\r" or ord(c) >= 0x20)


def xml_text(text: str, references: bool) -> str:
    out = escape(text, {'"': "&quot;"})
    if references:  # S3 writes carriage returns and some controls as numeric references
        out = out.replace("\r", "&#13;").replace("\t", "&#x9;")
    return out


def page(objects: list[dict[str, Any]], *, encoded: bool, references: bool = True, owner: bool = False,
         layout: str = "s3", folders: tuple[str, ...] = ()) -> bytes:
    """A ListObjectsV2 page as S3 writes it, or laid out otherwise (`layout`)."""
    parts = [f'<?xml version="1.0" encoding="UTF-8"?>\n<ListBucketResult xmlns="{NS}">',
             "<IsTruncated>false</IsTruncated>"]
    sep = "\n  " if layout == "pretty" else ""
    for obj in objects:
        key = urllib.parse.quote(obj["key"], safe="/") if encoded else obj["key"]
        fields = [f"<Key>{xml_text(key, references)}</Key>", "<LastModified>2026-11-29T09:00:00.000Z</LastModified>",
                  f"<ETag>{xml_text(chr(34) + obj['etag'] + chr(34), references)}</ETag>"]
        fields += [f"<ChecksumAlgorithm>{a}</ChecksumAlgorithm>" for a in obj["algorithms"]]
        if obj["algorithms"]:
            fields.append("<ChecksumType>FULL_OBJECT</ChecksumType>")
        fields += [f"<Size>{obj['size']}</Size>", "<StorageClass>STANDARD</StorageClass>"]
        if owner:
            fields.append("<Owner><ID>abc</ID><DisplayName>someone</DisplayName></Owner>")
        if layout == "reordered":
            fields = fields[1:] + fields[:1]
        parts.append(f"{sep}<Contents>{sep.join(fields)}</Contents>")
    parts.append(f"<Name>bucket</Name><Prefix/><MaxKeys>1000</MaxKeys>")
    parts += [f"<CommonPrefixes><Prefix>{xml_text(f, references)}</Prefix></CommonPrefixes>" for f in folders]
    if encoded:
        parts.append("<EncodingType>url</EncodingType>")
    parts.append(f"<KeyCount>{len(objects) + len(folders)}</KeyCount></ListBucketResult>")
    body = "".join(parts)
    if layout == "prefixed":  # every element in the namespace by a prefix, none by default
        body = re.sub(r"<(/?)([A-Za-z]+)", r"<\1s3:\2", body.replace(f' xmlns="{NS}"', f' xmlns:s3="{NS}"'))
    return body.encode("utf-8")


def expected(objects: list[dict[str, Any]], literal_cr: bool = False) -> list[tuple[str, int, str, bool]]:
    """What a page of `objects` lists; a carriage return sent as such reads as a line feed (XML 1.0, 2.11)."""
    def key(text: str) -> str:
        return text.replace("\r\n", "\n").replace("\r", "\n") if literal_cr else text

    return [(key(o["key"]), o["size"], o["etag"], "SHA256" in o["algorithms"]) for o in objects]


OBJECTS = st.lists(
    st.fixed_dictionaries({
        "key": st.text(KEY_CHARS, min_size=1, max_size=40),
        "size": st.integers(0, 5 * 2**40),
        "etag": st.from_regex(r"[0-9a-f]{32}(-[0-9]{1,4})?", fullmatch=True),
        "algorithms": st.lists(st.sampled_from(["CRC32", "CRC32C", "SHA1", "SHA256", "CRC64NVME"]),
                               max_size=2, unique=True),
    }),
    max_size=25,
)


@settings(max_examples=300, deadline=None)
@given(objects=OBJECTS, encoded=st.booleans(), references=st.booleans(), owner=st.booleans())
def test_the_lean_reader_equals_the_xml_parser(objects: list[dict[str, Any]], encoded: bool, references: bool,
                                               owner: bool) -> None:
    body = page(objects, encoded=encoded, references=references, owner=owner)
    found, rest = lean._parse_listing(body)
    assert found == expected(objects, literal_cr=not (references or encoded))
    assert found == lean._parse_listing_tree(body)[0]
    assert b"Contents" not in rest and b"<KeyCount>" in rest


@pytest.mark.parametrize("layout", ["pretty", "reordered", "prefixed"])
def test_other_layouts_are_read_as_a_tree(layout: str) -> None:
    objects = [{"key": f"k/{i}&<{i}>", "size": i, "etag": f"{i:032x}", "algorithms": ["SHA256"] if i % 2 else []}
               for i in range(5)]
    assert lean._parse_listing(page(objects, encoded=False, layout=layout))[0] == expected(objects)


def test_a_page_without_objects_is_left_as_it_is() -> None:
    body = page([], encoded=True, folders=("a/", "Contents/"))
    assert lean._parse_listing(body) == ([], body)


def test_a_broken_page_fails_as_the_xml_parser_fails() -> None:
    body = page([{"key": "k", "size": 1, "etag": "0" * 32, "algorithms": []}], encoded=False)
    with pytest.raises(Exception, match="not well-formed|undefined entity"):
        lean._parse_listing(body.replace(b"<Key>k</Key>", b"<Key>k&bogus;</Key>"))


def _client() -> Any:
    session = botocore.session.Session()
    session.set_credentials("testing", "testing")
    return session.create_client("s3", region_name="us-east-1")


def test_the_lean_reader_runs_before_botocore_parses_the_page() -> None:
    client = _client()
    lean._install_lean_hook(client)
    lean._install_lean_hook(client)  # once per client
    handlers = list(client.meta.events._emitter._handlers.prefix_search("before-parse.s3.ListObjectsV2"))
    names = [getattr(h, "__name__", "") for h in handlers]
    assert names[0] == "before_parse" and names.count("before_parse") == 1
    assert "_handle_200_error" not in names  # now called from the lean handler, on the stripped page


def test_an_error_inside_a_200_answer_is_still_caught() -> None:
    client = _client()
    lean._install_lean_hook(client)
    handler = client.meta.events._emitter._handlers.prefix_search("before-parse.s3.GetObjectAcl")[0]
    response = {"status_code": 200, "headers": {}, "body": b"<Error><Code>InternalError</Code></Error>"}
    operation = client.meta.service_model.operation_model("GetObjectAcl")
    handler(operation_model=operation, response_dict=response, customized_response_dict={})
    assert response["status_code"] == 500  # botocore's check still ran, so the call is retried
