"""traceway.testing as a pytest plugin, run by pytest's own pytester."""

from __future__ import annotations

import os

import pytest

from tests.instrument.otlp_receiver import OTLPReceiver

pytest_plugins = ["pytester"]

# The installed entry point has the module's name, so naming the module again is harmless.
# The generated tests need no asyncio.
PLUGIN_ARGS = ("-p", "traceway.testing", "-p", "no:asyncio")

TESTS = """
import pytest
from traceway.instrument import traced


def handle():
    with traced("GET /user/{id}", **{"http.route": "/user/{id}"}):
        with traced("cache lookup"):
            pass
        with traced("UserService/Get"):
            with traced("db query"):
                pass
        with traced("db query"):
            pass


def test_tree(spans):
    handle()
    root = spans.one("GET /user/{id}", **{"http.route": "/user/{id}"})
    assert len(root.trace_id) == 32 and len(root.span_id) == 16
    assert [s.name for s in spans.children_of(root)] == [
        "cache lookup", "UserService/Get", "db query"
    ]
    assert spans.roots() == [root]
    spans.assert_tree(
        ("GET /user/{id}", ["cache lookup", "db query", ("UserService/Get", ["db query"])])
    )
    spans.assert_tree(
        {"GET /user/{id}": ["cache lookup", {"UserService/Get": {"db query": {}}}, "db query"]},
        ordered=True,
    )


def test_each_test_sees_only_its_own_spans(spans):
    assert len(spans) == 0
    with traced("alone"):
        pass
    assert spans.names() == ["alone"]


def test_configure_keeps_the_capturing_provider(spans):
    from traceway.instrument import configure

    instrumentation = configure("under-test")
    with traced("after configure"):
        pass
    assert spans.names() == ["after configure"]
    assert configure("under-test") is instrumentation
"""

FAILING = """
from traceway.instrument import traced


def test_one_lists_what_was_captured(spans):
    with traced("checkout"):
        pass
    spans.one("payment")


def test_one_shows_the_asked_attributes_of_spans_so_named(spans):
    with traced("GET /user/{id}", **{"http.response.status_code": 200}):
        pass
    spans.one("GET /user/{id}", **{"http.response.status_code": 404, "user.id": "7"})


def test_tree_mismatch_shows_both_trees(spans):
    with traced("checkout"):
        with traced("reserve stock"):
            pass
    spans.assert_tree({"checkout": {"charge card": {}}})
"""


def test_fixture_captures_real_spans_in_a_fresh_process(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_plugin_use=TESTS)

    result = pytester.runpytest_subprocess(*PLUGIN_ARGS)

    result.assert_outcomes(passed=3)
    result.stdout.no_fnmatch_line("*Overriding*")
    result.stdout.no_fnmatch_line("*TracerProvider was installed before*")


def test_fixture_works_when_a_provider_is_already_global(pytester: pytest.Pytester) -> None:
    # In this process the outer test session already installed the global provider.
    pytester.makepyfile(test_plugin_use=TESTS)

    result = pytester.runpytest(*PLUGIN_ARGS)

    result.assert_outcomes(passed=3)


def test_failures_explain_themselves(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_plugin_failures=FAILING)

    result = pytester.runpytest(*PLUGIN_ARGS)

    result.assert_outcomes(failed=3)
    result.stdout.fnmatch_lines(
        [
            "*expected one span matching 'payment', found 0; captured:",
            "*  checkout",
        ]
    )
    result.stdout.fnmatch_lines(
        [
            "*expected one span matching 'GET /user/{id}', http.response.status_code=404, "
            "user.id='7', found 0; those named so have:",
            "*  GET /user/{id}: http.response.status_code=200, user.id not set",
            "*captured:",
        ]
    )
    result.stdout.fnmatch_lines(
        [
            "*span tree differs",
            "*expected:",
            "*  checkout",
            "*    charge card",
            "*captured:",
            "*  checkout",
            "*    reserve stock",
        ]
    )


APPLICATION = """
from traceway import instrument

instrument.configure("user-service")  # at import, as an application module may


def get_user():
    with instrument.traced("GET /user/{id}"):
        pass
"""

APPLICATION_TESTS = """
import myapp


def test_get_user(spans):
    myapp.get_user()
    assert spans.one("GET /user/{id}").resource.service_name == "user-service"
"""


@pytest.mark.parametrize(
    ("asked", "imported_by"), [(False, "test"), (False, "conftest"), (True, "test")]
)
def test_an_application_configured_at_import_exports_from_tests_only_if_asked(
    asked: bool,
    imported_by: str,
    pytester: pytest.Pytester,
    otlp_receiver: OTLPReceiver,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pytester.makepyfile(myapp=APPLICATION, test_app=APPLICATION_TESTS)
    if imported_by == "conftest":  # imported before the plugin's pytest_configure
        pytester.makeconftest("import myapp")
    for name in [name for name in os.environ if name.startswith("OTEL_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", otlp_receiver.endpoint)
    if asked:
        monkeypatch.setenv("OTEL_TRACES_EXPORTER", "otlp")

    result = pytester.runpytest_subprocess(*PLUGIN_ARGS)

    result.assert_outcomes(passed=1)  # the fixture captured the span either way
    assert [span.name for span in otlp_receiver.spans()] == (["GET /user/{id}"] if asked else [])


def test_a_conftest_may_name_the_plugin_too(pytester: pytest.Pytester) -> None:
    pytester.makeconftest('pytest_plugins = ["traceway.testing"]')
    pytester.makepyfile(test_plugin_use=TESTS)

    result = pytester.runpytest_subprocess("-p", "no:asyncio")

    result.assert_outcomes(passed=3)
