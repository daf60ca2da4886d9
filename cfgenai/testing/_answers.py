"""What the emulator answers before it is rendered, and the gateway's own error bodies."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Fault:
    """A scripted disturbance of the next answers (see ``GatewayEmulator.fail_next`` and co)."""

    route: str | None  # applies to requests whose path contains this
    remaining: int
    status: int | None = None  # None: a normal answer, disturbed by the fields below
    body: Any = None
    retry_after: float | None = None
    delay: float = 0.0  # before the response headers
    chunk_delay: float = 0.0  # between stream chunks
    drop_after: int | None = None  # stream chunks sent before the connection is cut
    malformed: bool = False


@dataclass
class Answer:
    status: int
    body: Any  # a JSON value; for a stream, the list of its chunks
    stream: bool = False  # send as server-sent events
    done_marker: bool = False  # end the stream with "data: [DONE]" (OpenAI's convention)
    headers: dict[str, str] = field(default_factory=dict)
    fault: Fault | None = None
    billing: str | None = None  # who paid the provider: "request", "stored", "unified"


GATEWAY_ERRORS = {
    2001: (400, "Gateway does not exist"),
    2003: (429, "Rate limited"),
    2005: (400, "Invalid request option"),
    2009: (401, "Unauthorized"),
    2040: (400, "No stored key with that alias"),
    7000: (400, "No route for that URI"),
    2016: (424, "Prompt blocked by Guardrails"),
    2017: (424, "Response blocked by Guardrails"),
    2021: (402, "Guardrails scanner out of credits"),
    7013: (503, "Guardrails scanner unavailable"),
    # Cloudflare documents the codes of DLP blocks, not their status: 424 like Guardrails'.
    2029: (424, "Request blocked by Data Loss Prevention"),
    2030: (424, "Response blocked by Data Loss Prevention"),
    # Cloudflare documents the 400 of a no-wholesale refusal, not its code: 2044 is ours.
    2044: (400, "No provider credentials, and cf-aig-no-wholesale forbids Unified Billing"),
}
# Refusals of what the provider answered: the gateway calls the provider first.
RESPONSE_REFUSALS = frozenset({2017, 2030})


# The emulator's own refusals of what a server meets on the open network. Cloudflare documents
# no gateway code for these, so the code is 9 and the HTTP status: never a real one.
EMULATOR_ERRORS = {
    9400: (400, "Malformed request"),
    9408: (408, "Request timeout"),
    9413: (413, "Request body too large"),
    9431: (431, "Request header fields too large"),
    9500: (500, "The emulator failed"),
    9503: (503, "The emulator is shutting down"),
}


# Policies (beta) answer with an `error` object and no code; a rate-limit rule's 429 has no
# documented body, so the emulator's is plain text.
POLICY_REFUSALS = ("policy", "spend", "rate")


def policy_refusal(kind: str, *, spent: float = 0, limit: float = 0) -> Answer:
    """Policies' refusal (``"policy"``), a spend cap's (``"spend"``) or a rate-limit rule's
    (``"rate"``)."""
    if kind == "policy":
        return Answer(403, {"success": False, "error": {"message": "Access denied by policy"}})
    if kind == "spend":
        error = {"message": "Spending limit exceeded", "bucket": "emulator", "spent": spent}
        return Answer(429, {"success": False, "error": {**error, "limit": limit}})
    return Answer(429, "Rate limit exceeded")


def gateway_error(code: int, detail: str | None = None) -> Answer:
    """The gateway's own error (older ``error`` list and newer top-level fields)."""
    status, message = GATEWAY_ERRORS.get(code) or EMULATOR_ERRORS[code]
    message = f"{message}: {detail}" if detail else message
    body = {
        "success": False,
        "result": [],
        "messages": [],
        "error": [{"code": code, "message": message}],
        "name": "AiGatewayError",
        "httpCode": status,
        "internalCode": code,
        "message": message,
        "description": message,
    }
    return Answer(status, body)
