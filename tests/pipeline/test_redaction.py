"""Redaction: secrets and personal data masked on OTLP batches (columns) and plain spans alike."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from traceway.model import AttributeValue, Event, InstrumentationScope, Link, Resource, Span
from traceway.pipeline.redaction import REDACTED_COUNT, RedactionRules, Redactor
from traceway.pipeline.value_patterns import luhn_valid
from traceway.receivers.otlp_decode import decode_json, decode_protobuf
from traceway.receivers.otlp_encode import encode_json, encode_protobuf
from traceway.storage.span_batch import SpanBatch

Receive = Callable[[list[Span]], Sequence[Span]]

RESOURCE = Resource({"service.name": "checkout"})
VISA = "4111111111111111"  # a test number that passes the Luhn check
NOT_A_CARD = "4111111111111112"

# How receivers hand spans over: OTLP as columns, Jaeger and Zipkin as Span objects.
RECEIVED: dict[str, Receive] = {
    "otlp-protobuf": lambda spans: decode_protobuf(encode_protobuf(spans)).spans,
    "otlp-json": lambda spans: decode_json(encode_json(spans)).spans,
    "span-objects": tuple,
}


def make_span(number: int = 1, **fields: object) -> Span:
    values: dict[str, object] = {
        "trace_id": f"{number:032x}",
        "span_id": f"{number:016x}",
        "name": "POST /login",
        "start_time_unix_nano": 1_700_000_000_000_000_000 + number,
        "end_time_unix_nano": 1_700_000_000_001_000_000 + number,
        "attributes": {"http.method": "POST", "http.status_code": 200},
        "resource": RESOURCE,
        **fields,
    }
    return Span(**values)  # type: ignore[arg-type]


def redacted(rules: RedactionRules, spans: Sequence[Span]) -> list[Span]:
    change = Redactor(rules).plan(spans)
    return list(spans if change is None else change())


def redact_one(receive: Receive, rules: RedactionRules, **fields: object) -> Span:
    (span,) = redacted(rules, receive([make_span(**fields)]))
    return span


@pytest.fixture(params=sorted(RECEIVED))
def receive(request: pytest.FixtureRequest) -> Receive:
    return RECEIVED[request.param]


def test_an_authorization_header_is_stored_as_stars(receive: Receive) -> None:
    span = redact_one(
        receive,
        RedactionRules(),
        attributes={"http.method": "GET", "authorization": "Bearer x", "user.id": 7},
    )
    assert span.attributes == {
        REDACTED_COUNT: 1,
        "http.method": "GET",
        "authorization": "***",
        "user.id": 7,
    }
    assert next(iter(span.attributes)) == REDACTED_COUNT


def test_default_keys_match_in_any_case_and_by_part(receive: Receive) -> None:
    span = redact_one(
        receive,
        RedactionRules(),
        attributes={
            "Authorization": "Basic dXNlcjpwYXNz",
            "http.request.header.authorization": ["Bearer abc"],
            "http.request.header.cookie": ["session=1"],
            "DB_PASSWORD": "hunter2",
            "x-auth-token": b"\x01\x02",
            "app.client_secret": "s3cr3t",
            "http.request.header.x-api-key": ["k"],
            "gen_ai.usage.input_tokens": 42,  # a count, not a token
            "token.valid": True,
            "http.route": "/token/refresh",  # the value is no secret, the key holds no rule
        },
    )
    assert span.attributes == {
        REDACTED_COUNT: 7,
        "Authorization": "***",
        "http.request.header.authorization": "***",
        "http.request.header.cookie": "***",
        "DB_PASSWORD": "***",
        "x-auth-token": "***",
        "app.client_secret": "***",
        "http.request.header.x-api-key": "***",
        "gen_ai.usage.input_tokens": 42,
        "token.valid": True,
        "http.route": "/token/refresh",
    }


def test_a_listed_key_masks_numbers_too_and_defaults_can_be_turned_off(
    receive: Receive,
) -> None:
    attributes = {"authorization": "Bearer x", "card.pin": 1234, "password": "p"}
    only_pin = RedactionRules(keys=("Card.PIN",), key_parts=())
    span = redact_one(receive, only_pin, attributes=attributes)
    assert span.attributes == {
        REDACTED_COUNT: 1,
        "authorization": "Bearer x",
        "card.pin": "***",
        "password": "p",
    }


def test_emails_are_masked_only_when_asked_for_in_attributes_events_and_status(
    receive: Receive,
) -> None:
    fields: dict[str, object] = {
        "attributes": {"note": "mail alice@example.com or bob.smith+x@mail.example.org now"},
        "events": (Event(5, "exception", {"exception.message": "no user carol@example.co.uk"}),),
        "status_message": "login failed for dave@example.com",
    }
    plain = redact_one(receive, RedactionRules(), **fields)
    assert plain.attributes["note"] == "mail alice@example.com or bob.smith+x@mail.example.org now"
    assert plain.status_message == "login failed for dave@example.com"
    assert REDACTED_COUNT not in plain.attributes

    masked = redact_one(receive, RedactionRules(emails=True), **fields)
    assert masked.attributes["note"] == "mail *** or *** now"
    assert masked.events[0].attributes == {"exception.message": "no user ***"}
    assert masked.events[0].name == "exception"
    assert masked.status_message == "login failed for ***"
    assert masked.attributes[REDACTED_COUNT] == 3


def test_card_numbers_are_masked_when_they_pass_the_luhn_check(receive: Receive) -> None:
    assert luhn_valid(VISA) and not luhn_valid(NOT_A_CARD)
    span = redact_one(
        receive,
        RedactionRules(card_numbers=True),
        attributes={
            "payment.card": VISA,
            "payment.note": "card 4111 1111 1111 1111, exp 12/30",
            "payment.amex": "3782-822463-10005",
            "payment.as_int": int(VISA),
            "payment.wrong": NOT_A_CARD,
            "order.id": "1234567890123456789012",  # longer than any card number
            "start_ns": 1_700_000_000_000_000_000,  # a timestamp, not a card
        },
    )
    assert span.attributes == {
        REDACTED_COUNT: 4,
        "payment.card": "***",
        "payment.note": "card ***, exp 12/30",
        "payment.amex": "***",
        "payment.as_int": "***",
        "payment.wrong": NOT_A_CARD,
        "order.id": "1234567890123456789012",
        "start_ns": 1_700_000_000_000_000_000,
    }


def test_values_inside_lists_and_maps_are_redacted(receive: Receive) -> None:
    span = redact_one(
        receive,
        RedactionRules(emails=True),
        attributes={
            "recipients": ["alice@example.com", "team", 3],
            "request": {"headers": {"Authorization": "Bearer x", "Accept": "*/*"}, "n": 1},
            "plain": ["a", {"b": "c"}],
        },
    )
    assert span.attributes == {
        REDACTED_COUNT: 2,
        "recipients": ["***", "team", 3],
        "request": {"headers": {"Authorization": "***", "Accept": "*/*"}, "n": 1},
        "plain": ["a", {"b": "c"}],
    }


def test_a_key_nested_in_a_list_of_maps_is_found_on_its_own(receive: Receive) -> None:
    span = redact_one(
        receive,
        RedactionRules(),
        attributes={"calls": [{"url": "/a", "headers": {"X-Auth-Token": "t"}}], "n": 1},
    )
    assert span.attributes == {
        REDACTED_COUNT: 1,
        "calls": [{"url": "/a", "headers": {"X-Auth-Token": "***"}}],
        "n": 1,
    }


def test_link_resource_and_scope_attributes_are_redacted(receive: Receive) -> None:
    resource = Resource({"service.name": "checkout", "db.password": "hunter2"})
    scope = InstrumentationScope("lib", attributes={"api_key": "k"})
    spans = receive(
        [
            make_span(
                n,
                resource=resource,
                scope=scope,
                links=(Link("a" * 32, "b" * 16, attributes={"token": "t"}),),
            )
            for n in (1, 2)
        ]
    )

    first, second = redacted(RedactionRules(), spans)

    assert first.resource.attributes == {
        REDACTED_COUNT: 1,
        "service.name": "checkout",
        "db.password": "***",
    }
    assert first.scope.attributes == {REDACTED_COUNT: 1, "api_key": "***"}
    assert first.links[0].attributes == {"token": "***"}
    assert first.attributes[REDACTED_COUNT] == 1
    assert second.resource == first.resource and second.scope == first.scope


def test_custom_patterns_mask_what_they_match_even_when_anchored(receive: Receive) -> None:
    rules = RedactionRules(
        patterns=(r"ACCT-\d{6}", r"^internal-[a-z]+$", r"(?<=ssn=)\d{3}-\d{2}-\d{4}")
    )
    span = redact_one(
        receive,
        rules,
        attributes={
            "account": "moved ACCT-123456 to ACCT-654321",
            "host": "internal-billing",
            "not.anchored": "see internal-billing",
            "query": "ssn=123-45-6789&x=1",
            "items": ["ACCT-000001"],
        },
        events=(Event(1, "log", {"message": "ACCT-999999 closed"}),),
        status_message="ACCT-111111 locked",
    )
    assert span.attributes == {
        REDACTED_COUNT: 6,
        "account": "moved *** to ***",
        "host": "***",
        "not.anchored": "see internal-billing",
        "query": "ssn=***&x=1",
        "items": ["***"],
    }
    assert span.events[0].attributes == {"message": "*** closed"}
    assert span.status_message == "*** locked"


def test_a_pattern_only_python_can_read_is_still_applied_to_every_span(receive: Receive) -> None:
    # RE2 has no look-behind, so no column screen can be made for this pattern.
    rules = RedactionRules(key_parts=(), patterns=(r"(?<=ACCT-)\d+",))
    spans = receive(
        [
            make_span(1, attributes={"account": "ACCT-123"}),
            make_span(2, attributes={}, status_message="ACCT-456 locked"),
            make_span(3, attributes={"account": "ACCT-"}),
        ]
    )
    by_attribute, by_status, untouched = redacted(rules, spans)
    assert by_attribute.attributes == {REDACTED_COUNT: 1, "account": "ACCT-***"}
    assert by_status.status_message == "ACCT-*** locked"
    assert untouched == spans[2]


@pytest.mark.parametrize(
    ("pattern", "complaint"),
    [("(unclosed", "not a valid regular expression"), ("x*", "matches the empty string")],
)
def test_a_bad_pattern_is_refused_saying_why(pattern: str, complaint: str) -> None:
    with pytest.raises(ValueError, match=complaint):
        RedactionRules(patterns=(pattern,))


def test_a_batch_without_secrets_passes_untouched(receive: Receive) -> None:
    spans = receive(
        [
            make_span(
                n,
                attributes={"http.url": f"https://shop.example/cart/{n}", "items": [1, 2]},
                events=(Event(1, "cache miss", {"key": f"cart:{n}"}),),
                status_message="fine",
            )
            for n in range(1, 100)
        ]
    )
    redactor = Redactor(RedactionRules(emails=True, card_numbers=True))
    change = redactor.plan(spans)
    assert list(spans if change is None else change()) == list(spans)
    if isinstance(spans, SpanBatch):
        assert change is None or change() is spans
        assert redactor.plan(spans) is None


# --- the column screen never misses a value a rule applies to ---------------------------

_KEYS = ["a", "Token", "x.password", "authorization", "AUTHORIZATION", "n", "api-key.count"]
_TEXT = st.sampled_from(
    ["", "plain", "bob@example.com", VISA, "4111 1111 1111 1111", NOT_A_CARD, "ACCT-123456"]
)
_values = st.recursive(
    st.one_of(_TEXT, st.integers(-(2**63), 2**63 - 1), st.booleans(), st.binary(max_size=4)),
    lambda children: st.one_of(
        st.lists(children, max_size=3),
        st.dictionaries(st.sampled_from(_KEYS), children, max_size=3),
    ),
    max_leaves=5,
)
_attributes = st.dictionaries(st.sampled_from(_KEYS), _values, max_size=4)


@st.composite
def _spans(draw: st.DrawFn) -> list[Span]:
    return [
        make_span(
            n,
            attributes=draw(_attributes),
            events=tuple(Event(t, "e", draw(_attributes)) for t in range(draw(st.integers(0, 2)))),
            links=tuple(
                Link("a" * 32, f"{t + 1:016x}", attributes=draw(_attributes))
                for t in range(draw(st.integers(0, 2)))
            ),
            status_message=draw(_TEXT),
            resource=Resource(draw(_attributes)),
        )
        for n in range(1, draw(st.integers(1, 5)) + 1)
    ]


RULE_SETS = {
    "keys": RedactionRules(),
    "emails": RedactionRules(keys=(), key_parts=(), emails=True),
    "cards": RedactionRules(keys=(), key_parts=(), card_numbers=True),
    "pattern": RedactionRules(keys=(), key_parts=(), patterns=(r"^ACCT-\d+$",)),
    "look-behind": RedactionRules(keys=(), key_parts=(), patterns=(r"(?<=ACCT-)\d+",)),
}


@pytest.mark.parametrize("rules", sorted(RULE_SETS))
@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spans=_spans())
def test_columns_and_span_objects_come_out_the_same(spans: list[Span], rules: str) -> None:
    batch = decode_protobuf(encode_protobuf(spans)).spans

    from_columns = redacted(RULE_SETS[rules], batch)
    from_objects = redacted(RULE_SETS[rules], tuple(batch))

    assert from_columns == from_objects


def test_redaction_count_adds_to_one_already_there() -> None:
    attributes: dict[str, AttributeValue] = {REDACTED_COUNT: 2, "secret": "s"}
    (span,) = redacted(RedactionRules(), (make_span(attributes=attributes),))
    assert span.attributes == {REDACTED_COUNT: 3, "secret": "***"}
