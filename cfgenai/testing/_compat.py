"""The gateway's OpenAI-compatible endpoint (``/compat/chat/completions``), answered in OpenAI's shapes."""

from __future__ import annotations

import time
import uuid
from typing import Any

PROVIDER_PREFIX = "google-ai-studio/"


def model_of(body: Any) -> str | None:
    """The Gemini model a compat request names, or ``None`` when it is not ``google-ai-studio/...``."""
    model = body.get("model") if isinstance(body, dict) else None
    if isinstance(model, str) and model.startswith(PROVIDER_PREFIX):
        return model.removeprefix(PROVIDER_PREFIX) or None
    return None


def to_gemini(body: Any) -> dict[str, Any]:
    """The ``generateContent`` body for a chat completion request."""
    contents = []
    for message in body["messages"]:
        content = message.get("content")
        if isinstance(content, list):
            content = " ".join(p.get("text", "") for p in content if p.get("type") == "text")
        role = "model" if message.get("role") == "assistant" else "user"
        contents.append({"role": role, "parts": [{"text": str(content)}]})
    return {"contents": contents}


def completion(model: str, text: str) -> dict[str, Any]:
    tokens = max(1, len(text.split()))
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": tokens, "completion_tokens": tokens, "total_tokens": 2 * tokens},
    }


def completion_chunks(model: str, chunks: list[str]) -> list[dict[str, Any]]:
    identity = {"id": f"chatcmpl-{uuid.uuid4().hex}", "created": int(time.time()), "model": model}
    return [
        {
            **identity,
            "object": "chat.completion.chunk",
            "choices": [
                {
                    "index": 0,
                    "delta": {**({"role": "assistant"} if i == 0 else {}), "content": text},
                    "finish_reason": "stop" if i == len(chunks) - 1 else None,
                }
            ],
        }
        for i, text in enumerate(chunks)
    ]


def error(status: int, message: str) -> dict[str, Any]:
    return {"error": {"message": message, "type": "invalid_request_error", "code": status}}
