"""OpenTelemetry trace context for the gateway: ``cf-aig-otel-*`` headers of the current span.

The gateway's own span joins the caller's trace when a request carries
``cf-aig-otel-trace-id`` and ``cf-aig-otel-parent-span-id``. Each transport's hook (in
``_transport``) calls ``add_trace_headers`` as the request is sent, so the span is the one
current then, not when the client was built. cfgenai never imports OpenTelemetry: a span can
be current only once the app (or its instrumentation) has imported ``opentelemetry.trace``, so
the hooks look for it among the loaded modules. With ``CF_AIG_OTEL=false`` they are not
installed at all.
"""

from __future__ import annotations

import sys
from collections.abc import MutableMapping

TRACE_HEADER = "cf-aig-otel-trace-id"
SPAN_HEADER = "cf-aig-otel-parent-span-id"


def add_trace_headers(headers: MutableMapping[str, str]) -> None:
    """Set the ids of the span current now on ``headers``, unless OpenTelemetry is not loaded,
    no span is recording, or the request names its own (``request_options(otel_trace_id=...)``
    wins)."""
    trace = sys.modules.get("opentelemetry.trace")
    if trace is None:
        return
    span = trace.get_current_span()
    context = span.get_span_context()
    if not (context.is_valid and span.is_recording()):
        return  # before the headers are searched: most requests have no span
    if TRACE_HEADER not in headers and SPAN_HEADER not in headers:
        headers[TRACE_HEADER] = trace.format_trace_id(context.trace_id)
        headers[SPAN_HEADER] = trace.format_span_id(context.span_id)
