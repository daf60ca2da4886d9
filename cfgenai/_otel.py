"""OpenTelemetry trace context for the gateway: ``cf-aig-otel-*`` headers of the current span.

The gateway's own span joins the caller's trace when a request carries
``cf-aig-otel-trace-id`` and ``cf-aig-otel-parent-span-id``. Each transport's hook (in
``_transport``) calls ``add_trace_headers`` as the request is sent, so the span is the one
current then, not when the client was built. OpenTelemetry is imported on the first request
that needs it, and only when ``opentelemetry-api`` is installed: with ``CF_AIG_OTEL=false``
the hooks are never installed, so it is never imported.
"""

from __future__ import annotations

import functools
import importlib.util
from collections.abc import MutableMapping
from typing import Any

TRACE_HEADER = "cf-aig-otel-trace-id"
SPAN_HEADER = "cf-aig-otel-parent-span-id"


def trace_headers() -> dict[str, str]:
    """The two headers for the span current now, or ``{}`` when OpenTelemetry is not
    installed or no span is recording."""
    trace = _trace_api()
    if trace is None:
        return {}
    span = trace.get_current_span()
    context = span.get_span_context()
    if not (context.is_valid and span.is_recording()):
        return {}
    return {
        TRACE_HEADER: trace.format_trace_id(context.trace_id),
        SPAN_HEADER: trace.format_span_id(context.span_id),
    }


def add_trace_headers(headers: MutableMapping[str, str]) -> None:
    """Set the current span's ids on ``headers``, unless the request names its own
    (``request_options(otel_trace_id=...)`` wins)."""
    if TRACE_HEADER in headers or SPAN_HEADER in headers:
        return
    headers.update(trace_headers())


@functools.cache
def _trace_api() -> Any:
    # find_spec looks the package up without importing it: no cost when it is absent.
    try:
        if importlib.util.find_spec("opentelemetry") is None:
            return None
        from opentelemetry import trace
    except ImportError:
        return None
    return trace
