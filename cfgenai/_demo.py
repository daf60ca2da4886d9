"""``cfgenai demo``: both auth modes, end to end, against the local emulator."""

from __future__ import annotations

from ._client import build_client
from ._secrets import mask_header
from .testing import GatewayEmulator, RecordedRequest

# Made-up credentials: the emulator accepts them, nothing else does.
_TOKEN = "demo-gateway-token"  # noqa: S105 - a made-up value for the emulator
_GOOGLE_KEY = "demo-google-key"
_STORED_KEY = "demo-key-stored-in-cloudflare"


def run_demo(*, model: str, prompt: str) -> None:
    """Print what the emulator receives and answers for a request and a streaming one sent in
    key mode, then in byok mode."""
    stored = {"default": _STORED_KEY}
    with GatewayEmulator(token=_TOKEN, google_keys=[_GOOGLE_KEY], stored_keys=stored) as emulator:
        print(f"Gateway emulator listening on {emulator.url} (CF_AIG_BASE_URL={emulator.base_url})")
        for mode, key, title in (
            ("key", _GOOGLE_KEY, "your Google key travels in x-goog-api-key"),
            ("byok", None, "no provider key on the wire, the gateway adds the one it stores"),
        ):
            print(f"\n== {mode} mode: {title} ==")
            with build_client(
                base_url=emulator.base_url,
                token=_TOKEN,
                google_api_key=key,
                gemini_api_key=None,
                mode=mode,
                _env_file=None,
            ) as client:
                answer = client.models.generate_content(model=model, contents=prompt).text
                _show("generate_content", emulator.last_request, answer or "")
                stream = client.models.generate_content_stream(model=model, contents=prompt)
                chunks = [c.text or "" for c in stream]
                call = f"generate_content_stream ({len(chunks)} chunks)"
                _show(call, emulator.last_request, "".join(chunks))
        print(
            "\nSame code, real gateway: set CF_AIG_ACCOUNT_ID, CF_AIG_GATEWAY_ID, CF_AIG_TOKEN "
            "(and GOOGLE_API_KEY for key mode), then `from cfgenai import client`."
        )


def _show(call: str, request: RecordedRequest, answer: str) -> None:
    query = f"?{request.query}" if request.query else ""
    print(f"{call}\n  gateway received: {request.method} {request.path}{query}")
    for name in ("cf-aig-authorization", "x-goog-api-key", "content-type"):
        value = request.header(name)
        print(f"    {name}: {mask_header(name, value) if value is not None else '(absent)'}")
    print(f"    body: {request.body.decode()}\n  gateway answered: {answer}")
