"""The ``cf-aig-otel-*`` headers that let the gateway's span join the caller's trace, added as
a request leaves. cfgenai never imports OpenTelemetry: no span is current before the app does."""

from __future__ import annotations

import sys
from collections.abc import MutableMapping

TRACE_HEADER = "cf-aig-otel-trace-id"
SPAN_HEADER = "cf-aig-otel-parent-span-id"


def add_trace_headers(headers: MutableMapping[str, str]) -> None:
    """Set the current span's ids on ``headers``, unless OpenTelemetry is not loaded, no span
    is recording, or the request names its own (``request_options(otel_trace_id=...)``)."""
    trace = sys.modules.get("opentelemetry.trace")
    if trace is None or TRACE_HEADER in headers or SPAN_HEADER in headers:
        return
    context = (span := trace.get_current_span()).get_span_context()
    if context.is_valid and span.is_recording():  # most requests have no span
        headers[TRACE_HEADER] = trace.format_trace_id(context.trace_id)
        headers[SPAN_HEADER] = trace.format_span_id(context.span_id)
