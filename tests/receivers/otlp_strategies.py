"""Hypothesis strategies for OTLP export requests, for comparing the two OTLP decoders.

``requests`` builds them with the generated protobuf classes (their encoding is
canonical); ``wire_requests`` writes raw wire bytes that no encoder writes: fields in
any order and repeated, unknown fields, ids given twice, out-of-range enums and
varints, overlong encodings, groups, invalid UTF-8. Edge values for both are listed
here too.
"""

from __future__ import annotations

import functools
import math
import struct
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from hypothesis import strategies as st
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import (
    AnyValue,
    ArrayValue,
    InstrumentationScope,
    KeyValue,
    KeyValueList,
)
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1 import trace_pb2

from tests.receivers.otlp_wire import (
    double,
    fixed32,
    fixed64,
    length_delimited,
    overlong_varint,
    tag,
    uint,
)

__all__ = [
    "DOUBLE_EDGES",
    "INT64_EDGES",
    "INVALID_UTF8",
    "TRICKY_KEYS",
    "TRICKY_TEXTS",
    "float_of",
    "natively_decodable",
    "requests",
    "wire_requests",
]

ld = length_delimited


def float_of(bits: int) -> float:
    return float(struct.unpack("<d", struct.pack("<Q", bits))[0])


INT64_EDGES = [0, 1, -1, 7, -7, 2**31 - 1, -(2**31), 2**32, 2**53 + 1, -(2**53) - 1]
INT64_EDGES += [2**63 - 1, -(2**63), 10**18, -(10**18)]
NANS = [float_of(bits) for bits in (0xFFF8000000000000, 0x7FF0000000000001, 2**64 - 1)]
DOUBLE_EDGES = [0.0, -0.0, 1.0, -1.5, 0.1, 1 / 3, 1e15, 1e16, 9999999999999998.0, 1e-4, 1e-5]
DOUBLE_EDGES += [5e-324, -5e-324, 2.2250738585072014e-308, 1.7976931348623157e308, 1e22, 1e23]
DOUBLE_EDGES += [-1.7976931348623157e308, 123456789.125, 2.0**63, math.inf, -math.inf, math.nan]
DOUBLE_EDGES += NANS
TRICKY_TEXTS = ["", 'say "hi"', "C:\\dir\\", "\x00", "".join(map(chr, range(0x20))), "\x7f"]
TRICKY_TEXTS += ["grüße", "日本語", "🚀🧵", "\u2028\u2029", "\ufeff", "</script>", "e\u0301"]
TRICKY_TEXTS += ["\x1b[31mred\x1b[0m", "a\x1fb", "\\u0041", "\t\r\n\b\f"]
TRICKY_KEYS = ["", "http.route", "ключ", "🚀", 'q"k', "a\\b", "\x00", "\x01\x1e\x7f", "\n", " "]
INVALID_UTF8 = [b"\xff", b"\xc0\x80", b"\xc1\xbf", b"\xed\xa0\x80", b"\xf4\x90\x80\x80"]
INVALID_UTF8 += [
    b"\xe2\x82",
    b"\x80",
    b"\xf8\x88\x80\x80\x80",
    b"ok\xe0\x80\xaf",
    b"\xf0\x82\x82\xac",
]


# --- with the protobuf classes ---

uint32s = st.one_of(st.sampled_from([0, 1, 2**31, 2**32 - 1]), st.integers(0, 2**32 - 1))
uint64s = st.one_of(st.sampled_from([0, 1, 2**63, 2**64 - 1]), st.integers(0, 2**64 - 1))
int32s = st.one_of(st.integers(-1, 6), st.integers(-(2**31), 2**31 - 1))
ints = st.one_of(st.sampled_from(INT64_EDGES), st.integers(-(2**63), 2**63 - 1))
doubles = st.one_of(
    st.sampled_from(DOUBLE_EDGES), st.floats(), st.integers(0, 2**64 - 1).map(float_of)
)
texts = st.one_of(st.sampled_from(TRICKY_TEXTS), st.text(max_size=12))
plain_keys = st.one_of(st.sampled_from(TRICKY_KEYS), st.text(max_size=8)).filter(
    lambda key: "\x1b" not in key and "\x1f" not in key
)
escaped_keys = st.sampled_from(["a\x1fb", "\x1b", "\x1b_\x1f"])
keys = st.integers(0, 19).flatmap(lambda n: escaped_keys if n == 9 else plain_keys)
scalar_values = st.one_of(
    st.builds(lambda v: AnyValue(string_value=v), texts),
    st.builds(lambda v: AnyValue(int_value=v), ints),
    st.builds(lambda v: AnyValue(double_value=v), doubles),
    st.builds(lambda v: AnyValue(bool_value=v), st.booleans()),
    st.builds(lambda v: AnyValue(bytes_value=v), st.binary(max_size=10)),
    st.builds(lambda v: AnyValue(string_value_strindex=v), int32s),
    st.just(AnyValue()),
)
nested_values = st.recursive(
    scalar_values,
    lambda inner: st.one_of(
        st.builds(
            lambda vs: AnyValue(array_value=ArrayValue(values=vs)), st.lists(inner, max_size=3)
        ),
        st.builds(
            lambda kvs: AnyValue(kvlist_value=KeyValueList(values=kvs)),
            st.lists(st.builds(KeyValue, key=keys, value=inner), max_size=3),
        ),
    ),
    max_leaves=5,
)
any_values = st.one_of(scalar_values, scalar_values, scalar_values, nested_values)


def key_values(handled: bool) -> st.SearchStrategy[list[KeyValue]]:
    if handled:
        pairs = st.builds(KeyValue, key=plain_keys, value=scalar_values)
        return st.lists(pairs, max_size=5, unique_by=lambda kv: kv.key)
    return st.lists(st.builds(KeyValue, key=keys, value=any_values), max_size=5)


def ids(size: int, handled: bool, optional: bool) -> st.SearchStrategy[bytes]:
    valid = st.binary(min_size=size, max_size=size).filter(any)
    if optional:
        valid = st.one_of(valid, st.just(b""), st.just(bytes(size)))
    return valid if handled else st.one_of(valid, valid, valid, st.binary(max_size=size + 1))


def spans(handled: bool) -> st.SearchStrategy[trace_pb2.Span]:
    attribute_lists = key_values(handled)
    events = st.builds(
        trace_pb2.Span.Event,
        time_unix_nano=uint64s,
        name=texts,
        attributes=attribute_lists,
        dropped_attributes_count=uint32s,
    )
    links = st.builds(
        trace_pb2.Span.Link,
        trace_id=ids(16, handled, optional=True),
        span_id=ids(8, handled, optional=True),
        trace_state=texts,
        attributes=attribute_lists,
        dropped_attributes_count=uint32s,
        flags=uint32s,
    )
    return st.builds(
        trace_pb2.Span,
        trace_id=ids(16, handled, optional=False),
        span_id=ids(8, handled, optional=False),
        parent_span_id=ids(8, handled, optional=True),
        trace_state=texts,
        name=texts,
        kind=int32s,
        start_time_unix_nano=uint64s,
        end_time_unix_nano=uint64s,
        attributes=attribute_lists,
        dropped_attributes_count=uint32s,
        events=st.lists(events, max_size=2),
        dropped_events_count=uint32s,
        links=st.lists(links, max_size=2),
        dropped_links_count=uint32s,
        status=st.one_of(st.none(), st.builds(trace_pb2.Status, code=int32s, message=texts)),
        flags=uint32s,
    )


owner_attributes = st.lists(st.builds(KeyValue, key=keys, value=any_values), max_size=4)
resources = st.builds(Resource, attributes=owner_attributes, dropped_attributes_count=uint32s)
scopes = st.builds(
    InstrumentationScope,
    name=texts,
    version=texts,
    attributes=owner_attributes,
    dropped_attributes_count=uint32s,
)


def requests(handled: bool) -> st.SearchStrategy[ExportTraceServiceRequest]:
    scope_spans = st.builds(
        trace_pb2.ScopeSpans,
        scope=st.one_of(st.none(), scopes),
        spans=st.lists(spans(handled), max_size=3),
        schema_url=texts,
    )
    resource_spans = st.builds(
        trace_pb2.ResourceSpans,
        resource=st.one_of(st.none(), resources),
        scope_spans=st.lists(scope_spans, max_size=2),
        schema_url=texts,
    )
    return st.builds(ExportTraceServiceRequest, resource_spans=st.lists(resource_spans, max_size=2))


def natively_decodable(request: ExportTraceServiceRequest) -> bool:
    """Whether the native decoder must take ``request`` (see the module docstring)."""
    return all(
        _plain(pb.attributes)
        and len(pb.trace_id) == 16
        and any(pb.trace_id)
        and len(pb.span_id) == 8
        and any(pb.span_id)
        and len(pb.parent_span_id) in (0, 8)
        and all(_plain(event.attributes) for event in pb.events)
        and all(
            len(link.trace_id) in (0, 16)
            and len(link.span_id) in (0, 8)
            and _plain(link.attributes)
            for link in pb.links
        )
        for resource_spans in request.resource_spans
        for scope_spans in resource_spans.scope_spans
        for pb in scope_spans.spans
    )


def _plain(key_values: Iterable[KeyValue]) -> bool:
    keys = [kv.key for kv in key_values]
    return (
        len(set(keys)) == len(keys)
        and not any("\x1b" in key or "\x1f" in key for key in keys)
        and all(
            kv.value.WhichOneof("value") not in ("array_value", "kvlist_value") for kv in key_values
        )
    )


# --- raw wire bytes ---
# Each gives (bytes, valid, plain): valid when the Python decoder parses the bytes,
# plain when the native decoder must take them too. With ``odd`` false a strategy
# writes only what the native decoder must take (in any field order, with unknown
# and repeated fields); with ``odd`` true also what it may leave to Python.

Part = tuple[bytes, bool, bool]


def _unknown_field(number: int, wire_type: int, data: bytes) -> bytes:
    """A field no OTLP message defines, of ``wire_type`` 0, 1, 2 or 5."""
    if wire_type == 0:
        return uint(number, int.from_bytes(data[:8], "little"))
    if wire_type == 2:
        return ld(number, data)
    size = 8 if wire_type == 1 else 4
    return tag(number, wire_type) + data[:size].ljust(size, b"\0")


unknown_fields = st.builds(
    _unknown_field,
    st.one_of(st.integers(17, 3000), st.just(2**29 - 1)),
    st.sampled_from([0, 1, 2, 5]),
    st.binary(max_size=9),
)
any_varints = st.one_of(st.integers(-(2**63), 2**64 - 1), st.sampled_from([0, 1, 2, 5, 2**32 + 2]))


_F = TypeVar("_F", bound=Callable[..., Any])


def _cached(factory: _F) -> _F:
    """A strategy factory that builds each strategy once: building them is what costs."""
    return functools.cache(factory)  # type: ignore[return-value]


_integers = _cached(st.integers)
_maybe_utf8 = st.one_of(st.sampled_from(INVALID_UTF8), st.binary(max_size=5))
_bits = st.sampled_from([0, 1])
_unknown = st.lists(unknown_fields, max_size=1)


@_cached
def _nonzero_ids(size: int) -> st.SearchStrategy[bytes]:
    return st.binary(min_size=size, max_size=size).filter(any)


def _rarely(draw: st.DrawFn, one_in: int) -> bool:
    """True once in ``one_in`` draws (not at a bound, which Hypothesis favours)."""
    return draw(_integers(0, one_in - 1)) == one_in // 2


def _utf8(raw: bytes) -> bool:
    try:
        raw.decode()
    except UnicodeDecodeError:
        return False
    return True


def _in_any_order(draw: st.DrawFn, parts: list[bytes], ordered: list[bytes]) -> bytes:
    """``parts`` shuffled among unknown fields; ``ordered`` keep their order (their
    last occurrence is the one that counts)."""
    fields = [*parts, *draw(_unknown)]
    shuffled = [fields.pop(draw(_integers(0, len(fields) - 1))) for _ in range(len(fields))]
    low = 0
    for field in ordered:
        at = draw(_integers(low, len(shuffled)))
        shuffled.insert(at, field)
        low = at + 1
    return b"".join(shuffled)


@_cached
@st.composite
def _texts(draw: st.DrawFn, odd: bool) -> tuple[bytes, bool]:
    """UTF-8 text; if ``odd``, now and then bytes that may not be (then not valid)."""
    if not odd or not _rarely(draw, 20):
        return draw(texts).encode(), True
    raw = draw(_maybe_utf8)
    return raw, _utf8(raw)


@_cached
@st.composite
def _text_fields(draw: st.DrawFn, number: int, odd: bool) -> tuple[list[bytes], bool]:
    items = draw(st.lists(_texts(odd), max_size=2))
    return [ld(number, raw) for raw, _ in items], all(valid for _, valid in items)


@_cached
def _varints(number: int) -> st.SearchStrategy[list[bytes]]:
    return st.lists(any_varints.map(lambda v: uint(number, v)), max_size=2)


@_cached
def _fixed(number: int, size: int) -> st.SearchStrategy[list[bytes]]:
    write = fixed64 if size == 8 else fixed32
    return st.lists(st.integers(0, 2 ** (8 * size) - 1).map(lambda v: write(number, v)), max_size=2)


@_cached
@st.composite
def _values(draw: st.DrawFn, nested: bool, odd: bool) -> Part:
    """An ``AnyValue`` message; ``nested`` allows arrays and kvlists."""
    kind = draw(_integers(0, 9 if nested else 7 if odd else 6))
    valid = plain = True
    if kind == 0:
        raw, valid = draw(_texts(odd))
        fields = [ld(1, raw)]
    elif kind == 1:
        fields = [uint(2, draw(_bits))]
    elif kind == 2:
        fields = [uint(3, draw(ints)) for _ in range(draw(_integers(1, 2)))]
    elif kind == 3:
        fields = [double(4, draw(doubles))]
    elif kind == 4:
        fields = [ld(7, draw(st.binary(max_size=10)))]
    elif kind == 5:
        fields = [uint(8, draw(int32s))]
    elif kind == 6:
        fields = []
    elif kind == 7:  # several members of the oneof: the last one wins
        fields, plain = [uint(3, draw(ints)), ld(1, draw(texts)), uint(2, 1)], False
    else:
        items = draw(_items(odd))
        valid, plain = all(item_valid for _, item_valid, _ in items), False
        if kind == 8:  # array_value
            fields = [ld(5, b"".join(ld(1, body) for body, _, _ in items))]
        else:  # kvlist_value
            pairs = [ld(1, ld(1, f"k{n}") + ld(2, body)) for n, (body, _, _) in enumerate(items)]
            fields = [ld(6, b"".join(pairs))]
    return _in_any_order(draw, fields, []), valid, plain


@_cached
def _items(odd: bool) -> st.SearchStrategy[list[Part]]:
    return st.lists(_values(False, odd), max_size=2)


@_cached
def _attribute_keys(odd: bool) -> st.SearchStrategy[list[bytes]]:
    key_texts = st.one_of(keys.map(str.encode), _texts(odd).map(lambda text: text[0]))
    return st.lists(key_texts if odd else plain_keys.map(str.encode), max_size=3, unique=True)


_MODES = {
    odd: st.sampled_from(["one"] * 8 + ["none", "strindex"] + ["twice"] * odd)
    for odd in (False, True)
}
_plain_key_bytes = plain_keys.map(str.encode)


@_cached
@st.composite
def _attributes(
    draw: st.DrawFn, number: int, nested: bool, odd: bool
) -> tuple[list[bytes], bool, bool]:
    """Attributes as field ``number``; plain when their keys are valid, distinct and
    need no escaping, and their values are scalars given once."""
    keys_drawn = draw(_attribute_keys(odd))
    if keys_drawn and odd and _rarely(draw, 4):
        keys_drawn.append(keys_drawn[0])  # a repeated key
    fields, valid, plain = [], True, True
    for key in keys_drawn:
        body, value_valid, value_plain = draw(_values(nested, odd))
        value = ld(2, body)
        ordered = [ld(1, key)]
        if _rarely(draw, 10):
            ordered.insert(0, ld(1, draw(_plain_key_bytes)))  # an earlier key, replaced
        mode = draw(_MODES[odd])
        parts = {"one": [value], "none": [], "twice": [value, value]}.get(mode, [value, uint(3, 1)])
        fields.append(ld(number, _in_any_order(draw, parts, ordered)))
        valid = valid and _utf8(key) and value_valid
        plain = plain and value_plain and mode != "twice" and b"\x1b" not in key
        plain = plain and b"\x1f" not in key
    return fields, valid, plain and valid and len(set(keys_drawn)) == len(keys_drawn)


@_cached
@st.composite
def _ids(
    draw: st.DrawFn, number: int, size: int, required: bool, odd: bool
) -> tuple[list[bytes], bytes]:
    """Occurrences of an id field (kept in order) and the id that counts: the last."""
    valid = _nonzero_ids(size)
    roll = draw(_integers(0, 19))
    if roll in (11, 12):
        occurrences = [draw(st.binary(max_size=size + 1)), draw(valid)]
    elif odd and roll in (13, 14):
        occurrences = draw(_weird_ids(size))
    elif not required and roll in (15, 16):
        occurrences = []
    elif not required and roll == 17:
        occurrences = [bytes(size)]
    else:
        occurrences = [draw(valid)]
    return [ld(number, raw) for raw in occurrences], occurrences[-1] if occurrences else b""


@_cached
def _weird_ids(size: int) -> st.SearchStrategy[list[bytes]]:
    return st.lists(st.one_of(st.binary(max_size=size + 1), st.just(bytes(size))), max_size=2)


@_cached
@st.composite
def _events(draw: st.DrawFn, odd: bool) -> Part:
    names, names_valid = draw(_text_fields(2, odd))
    attributes, valid, plain = draw(_attributes(3, odd and _rarely(draw, 4), odd))
    parts = [*draw(_fixed(1, 8)), *names, *attributes, *draw(_varints(4))]
    return ld(11, _in_any_order(draw, parts, [])), valid and names_valid, plain and names_valid


@_cached
@st.composite
def _links(draw: st.DrawFn, odd: bool) -> Part:
    trace_ids, trace_id = draw(_ids(1, 16, False, odd))
    span_ids, span_id = draw(_ids(2, 8, False, odd))
    states, states_valid = draw(_text_fields(3, odd))
    attributes, valid, plain = draw(_attributes(4, odd and _rarely(draw, 4), odd))
    parts = [*states, *attributes, *draw(_varints(5)), *draw(_fixed(6, 4))]
    body = _in_any_order(draw, parts, trace_ids + span_ids)
    plain = plain and states_valid and len(trace_id) in (0, 16) and len(span_id) in (0, 8)
    return ld(13, body), valid and states_valid, plain


@_cached
@st.composite
def _statuses(draw: st.DrawFn, odd: bool) -> tuple[list[bytes], bool]:
    """None, one or (if ``odd``, merged by protobuf) two ``status`` fields."""
    fields, valid = [], True
    for _ in range(draw(_integers(0, 2 if odd else 1))):
        messages, messages_valid = draw(_text_fields(2, odd))
        parts = [*messages, *draw(_varints(3)), *draw(_varints(1))]  # 1: deprecated code
        fields.append(ld(15, _in_any_order(draw, parts, [])))
        valid = valid and messages_valid
    return fields, valid


@st.composite
def _oddities(draw: st.DrawFn) -> tuple[list[bytes], bool]:
    """A group, a known field of the wrong wire type, or a name with an overlong tag
    or length (protobuf takes up to 5 bytes); or nothing."""
    oddity, size = draw(_integers(0, 9)), draw(_integers(2, 10))
    if oddity == 1:
        return [tag(99, 3) + uint(5, 1) + tag(99, 4)], True
    if oddity == 2:
        return [uint(5, 1)], True
    if oddity == 3:
        return [overlong_varint(5 << 3 | 2, size) + b"\x01x"], size <= 5
    if oddity == 4:
        return [tag(5, 2) + overlong_varint(1, size) + b"x"], size <= 5
    return [], True


@_cached
@st.composite
def _spans(draw: st.DrawFn, odd: bool) -> Part:
    trace_ids, trace_id = draw(_ids(1, 16, True, odd))
    span_ids, span_id = draw(_ids(2, 8, True, odd))
    parent_ids, parent_id = draw(_ids(4, 8, False, odd))
    states, states_valid = draw(_text_fields(3, odd))
    names, names_valid = draw(_text_fields(5, odd))
    attributes, valid, plain = draw(_attributes(9, odd and _rarely(draw, 4), odd))
    children = draw(_span_children(odd))
    statuses, statuses_valid = draw(_statuses(odd))
    oddities, oddities_valid = draw(_oddities()) if odd else ([], True)
    parts = [*states, *names, *attributes, *draw(_varints(6)), *draw(_fixed(7, 8))]
    parts += [*draw(_fixed(8, 8)), *draw(_fixed(16, 4)), *statuses, *oddities]
    parts += [field for number in (10, 12, 14) for field in draw(_varints(number))]
    parts += [body for body, _, _ in children]
    body = _in_any_order(draw, parts, trace_ids + span_ids + parent_ids)
    valid = valid and states_valid and names_valid and statuses_valid and oddities_valid
    valid = valid and all(child_valid for _, child_valid, _ in children)
    plain = plain and valid and all(child_plain for _, _, child_plain in children)
    plain = plain and len(statuses) < 2 and not oddities and len(parent_id) in (0, 8)
    plain = plain and len(trace_id) == 16 and any(trace_id) and len(span_id) == 8 and any(span_id)
    return ld(2, body), valid, plain


@_cached
def _span_children(odd: bool) -> st.SearchStrategy[list[Part]]:
    return st.lists(st.one_of(_events(odd), _links(odd)), max_size=2)


@_cached
@st.composite
def _owners(draw: st.DrawFn, scope: bool, odd: bool) -> Part:
    """A resource or scope (field 1): taken natively whatever it holds, if given once."""
    attributes, valid, _ = draw(_attributes(3 if scope else 1, True, True))
    parts = [*attributes, *draw(_varints(4 if scope else 2))]
    if scope:
        for number in (1, 2):
            names, names_valid = draw(_text_fields(number, odd))
            parts, valid = parts + names, valid and names_valid
    count = draw(_integers(0, 2 if odd else 1))
    owners = [ld(1, _in_any_order(draw, parts, [])) for _ in range(count)]
    return b"".join(owners), valid, count < 2


@_cached
def _children(scope: bool, odd: bool) -> st.SearchStrategy[list[Part]]:
    """The spans of a ScopeSpans (``scope``), or the ScopeSpans of a ResourceSpans."""
    return st.lists(_spans(odd) if scope else _groups(True, odd), min_size=1, max_size=2)


@_cached
def _resource_groups(odd: bool) -> st.SearchStrategy[list[Part]]:
    return st.lists(_groups(False, odd), min_size=1, max_size=2)


@_cached
@st.composite
def _groups(draw: st.DrawFn, scope: bool, odd: bool) -> Part:
    """A ScopeSpans (``scope``) or ResourceSpans, with its children."""
    owner, valid, plain = draw(_owners(scope, odd))
    children = draw(_children(scope, odd))
    schema_urls, urls_valid = draw(_text_fields(3, odd))
    body = _in_any_order(draw, [owner, *[child for child, _, _ in children], *schema_urls], [])
    valid = valid and urls_valid and all(child_valid for _, child_valid, _ in children)
    plain = plain and valid and all(child_plain for _, _, child_plain in children)
    return ld(2 if scope else 1, body), valid, plain


@st.composite
def wire_requests(draw: st.DrawFn) -> Part:
    """An export request as wire bytes, whether Python parses it, and whether the
    native decoder must take it. Half of them hold something odd somewhere."""
    odd = draw(st.booleans())
    groups = draw(_resource_groups(odd))
    body = _in_any_order(draw, [group for group, _, _ in groups], [])
    valid = all(group_valid for _, group_valid, _ in groups)
    return body, valid, valid and all(plain for _, _, plain in groups)
