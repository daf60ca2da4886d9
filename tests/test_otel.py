"""OpenTelemetry: every request carries the ids of the span current when it is sent."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Iterator

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF

from cfgenai import ConfigError, request_options
from cfgenai.testing import GatewayEmulator

from .calls import CALLS
from .conftest import GOOGLE_KEY, Build

TRACE, SPAN = "cf-aig-otel-trace-id", "cf-aig-otel-parent-span-id"


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def tracer(exporter: InMemorySpanExporter) -> Iterator[trace.Tracer]:
    """A real SDK tracer exporting to memory; no global provider is installed."""
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield provider.get_tracer("cfgenai-tests")
    provider.shutdown()


def _ids(span: trace.Span) -> tuple[str, str]:
    context = span.get_span_context()
    return trace.format_trace_id(context.trace_id), trace.format_span_id(context.span_id)


@pytest.mark.parametrize("mode", ["key", "byok"])
@pytest.mark.parametrize("call", list(CALLS))
def test_the_ids_on_the_wire_are_those_of_the_span_current_when_sending(
    gateway_env: GatewayEmulator,
    build: Build,
    tracer: trace.Tracer,
    exporter: InMemorySpanExporter,
    call: str,
    mode: str,
) -> None:
    client = build(**({"google_api_key": GOOGLE_KEY} if mode == "key" else {}))  # no span yet
    sent = []
    for name in ("first", "second"):
        with tracer.start_as_current_span(name) as span:
            CALLS[call](client)
            sent.append(_ids(span))
        request = gateway_env.last_request
        assert (request.header(TRACE), request.header(SPAN)) == sent[-1]
    assert sent[0] != sent[1]
    exported = {s.name: _ids(s) for s in exporter.get_finished_spans()}  # type: ignore[arg-type]
    assert exported == {"first": sent[0], "second": sent[1]}


def test_no_span_or_a_span_that_does_not_record_sends_no_ids(
    gateway_env: GatewayEmulator, build: Build
) -> None:
    client = build()
    CALLS["sync"](client)
    assert gateway_env.last_request.header(TRACE) is None
    unsampled = TracerProvider(sampler=ALWAYS_OFF).get_tracer("off")
    with unsampled.start_as_current_span("off"):
        CALLS["async"](client)
    assert gateway_env.last_request.header(TRACE) is None
    assert gateway_env.last_request.header(SPAN) is None


@pytest.mark.parametrize("call", list(CALLS))
def test_explicit_ids_per_request_win(
    gateway_env: GatewayEmulator, build: Build, tracer: trace.Tracer, call: str
) -> None:
    explicit = {
        "otel_trace_id": "0af7651916cd43dd8448eb211c80319c",
        "otel_parent_span_id": "b7ad6b7169203331",
    }
    with tracer.start_as_current_span("ignored"):
        CALLS[call](build(), **explicit)
    request = gateway_env.last_request
    assert (request.header(TRACE), request.header(SPAN)) == tuple(explicit.values())


@pytest.mark.parametrize("call", list(CALLS))
def test_cf_aig_otel_false_sends_none(
    gateway_env: GatewayEmulator,
    build: Build,
    tracer: trace.Tracer,
    monkeypatch: pytest.MonkeyPatch,
    call: str,
) -> None:
    monkeypatch.setenv("CF_AIG_OTEL", "false")
    with tracer.start_as_current_span("quiet"):
        CALLS[call](build())
    assert gateway_env.last_request.header(TRACE) is None


@pytest.mark.parametrize(
    ("options", "problem"),
    [
        ({"otel_trace_id": "xyz"}, "otel_trace_id: must be 32 hexadecimal characters"),
        (
            {"otel_trace_id": "0" * 32},
            "otel_trace_id: must be 32 hexadecimal characters, not all zeros",
        ),
        ({"otel_parent_span_id": "abc"}, "otel_parent_span_id: must be 16 hexadecimal characters"),
    ],
)
def test_bad_explicit_ids_are_refused(options: dict[str, str], problem: str) -> None:
    with pytest.raises(ConfigError, match=problem):
        request_options(**options)


def test_a_client_wide_trace_id_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    from cfgenai import GatewaySettings

    monkeypatch.setenv("CF_AIG_OTEL_TRACE_ID", "0af7651916cd43dd8448eb211c80319c")
    with pytest.raises(ConfigError, match="a client-wide trace id would put every request"):
        GatewaySettings(base_url="http://127.0.0.1:1/v1/a/g", token="a-real-token")


_SCRIPT = textwrap.dedent(
    """
    import importlib.abc, os, sys
    import cfgenai

    def ask(**settings):
        with cfgenai.build_client(**settings) as client:
            client.models.generate_content(model="gemini-2.5-flash", contents="hi")

    ask(otel=False)  # CF_AIG_OTEL=false: OpenTelemetry is installed, and never imported
    print("disabled:", "opentelemetry" in sys.modules)
    ask()  # enabled and installed, but the app has no span: cfgenai imports nothing either
    print("enabled:", "opentelemetry" in sys.modules)

    class NotInstalled(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name == "opentelemetry" or name.startswith("opentelemetry."):
                raise ModuleNotFoundError(name)
            return None

    sys.meta_path.insert(0, NotInstalled())
    ask()  # enabled, but OpenTelemetry is "not installed": requests go out without ids
    print("absent:", "opentelemetry" in sys.modules)
    """
)


def test_cfgenai_never_imports_opentelemetry(
    gateway_env: GatewayEmulator,
) -> None:
    done = subprocess.run(
        [sys.executable, "-c", _SCRIPT], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[:3] == ["disabled: False", "enabled: False", "absent: False"]
    assert len(gateway_env.requests) == 3
    assert all(r.header(TRACE) is None for r in gateway_env.requests)


@pytest.mark.parametrize("mode", ["key", "byok"])
def test_the_openai_compat_clients_carry_the_ids_too(
    gateway_env: GatewayEmulator, tracer: trace.Tracer, mode: str
) -> None:
    import asyncio

    import cfgenai.openai

    settings = {"google_api_key": GOOGLE_KEY} if mode == "key" else {}
    messages = [{"role": "user", "content": "hi"}]
    model = cfgenai.openai.compat_model("gemini-2.5-flash")

    async def ask_async() -> None:
        async with cfgenai.openai.async_openai_client(**settings) as compat:
            await compat.chat.completions.create(model=model, messages=messages)  # type: ignore[arg-type]

    with (
        cfgenai.openai.openai_client(**settings) as compat,
        tracer.start_as_current_span("sync") as span,
    ):
        compat.chat.completions.create(model=model, messages=messages)  # type: ignore[arg-type]
    request = gateway_env.last_request
    assert (request.path.endswith("/compat/chat/completions"), request.header(TRACE)) == (
        True,
        _ids(span)[0],
    )
    assert request.header(SPAN) == _ids(span)[1]
    with tracer.start_as_current_span("async") as span:
        asyncio.run(ask_async())
    assert (gateway_env.last_request.header(TRACE), gateway_env.last_request.header(SPAN)) == (
        _ids(span)
    )
    with (
        cfgenai.openai.openai_client(**settings, otel=False) as compat,
        tracer.start_as_current_span("x"),
    ):
        compat.chat.completions.create(model=model, messages=messages)  # type: ignore[arg-type]
    assert gateway_env.last_request.header(TRACE) is None
