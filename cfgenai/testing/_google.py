"""The stand-in for Google AI Studio: Gemini-shaped answers and Google's error bodies."""

from __future__ import annotations

import copy
import hashlib
import json
import secrets
from typing import Any

from ._answers import Answer

_ERRORS = {
    400: ("INVALID_ARGUMENT", "API key not valid. Please pass a valid API key."),
    403: (
        "PERMISSION_DENIED",
        "Method doesn't allow unregistered callers (callers without established identity). "
        "Please use API Key or other form of API consumer identity to call this API.",
    ),
    404: ("NOT_FOUND", "Requested entity was not found."),
    429: ("RESOURCE_EXHAUSTED", "Resource has been exhausted (e.g. check quota)."),
    500: ("INTERNAL", "An internal error has occurred."),
    503: ("UNAVAILABLE", "The model is overloaded. Please try again later."),
}


def error(status: int, message: str | None = None) -> Answer:
    """Google's error answer for ``status``."""
    name, default = _ERRORS.get(status, ("UNKNOWN", "Error."))
    return Answer(
        status, {"error": {"code": status, "message": message or default, "status": name}}
    )


def prompt_text(body: Any) -> str:
    """The text of the last turn of a ``generateContent`` body."""
    turn = body["contents"][-1]
    return " ".join(part["text"] for part in turn["parts"] if "text" in part)


def texts_answer(
    model: str, texts: list[str], *, prompt: int, thinking: bool
) -> list[dict[str, Any]]:
    """The chunks of a streamed answer saying ``texts``, as Gemini sends them: each carries the
    response id, the model version and the usage so far; the last one the finish reason and
    the answer's tokens (a word each; the prompt's are ``prompt``)."""
    response_id = secrets.token_urlsafe(17)
    said = max(1, sum(len(text.split()) for text in texts))
    thoughts = said if thinking else 0
    chunks = []
    for index, text in enumerate(texts):
        final = {"finishReason": "STOP"} if index == len(texts) - 1 else {}
        answered = {"candidatesTokenCount": said} if final else {}
        usage = {
            "promptTokenCount": prompt,
            **answered,
            "totalTokenCount": prompt + sum(answered.values()) + thoughts,
            "promptTokensDetails": [{"modality": "TEXT", "tokenCount": prompt}],
            **({"thoughtsTokenCount": thoughts} if thinking else {}),
        }
        content = {"parts": [{"text": text}], "role": "model"}
        chunks.append(
            {
                "candidates": [{"content": content, **final, "index": 0}],
                "usageMetadata": usage,
                "modelVersion": model,
                "responseId": response_id,
            }
        )
    return chunks


def count_tokens(body: Any) -> dict[str, Any]:
    contents = body.get("contents") or body.get("generateContentRequest", {}).get("contents", [])
    words = sum(len(p.get("text", "").split()) for c in contents for p in c.get("parts", []))
    return {"totalTokens": words}


def embedding(content: Any) -> dict[str, Any]:
    """A small embedding that depends only on the content's text, so equal texts embed equally."""
    text = " ".join(p.get("text", "") for p in content.get("parts", []))
    digest = hashlib.sha256(text.encode()).digest()
    return {"values": [round(b / 255 - 0.5, 4) for b in digest[:8]]}


def embed(body: Any) -> dict[str, Any]:
    return {"embedding": embedding(body["content"])}


def batch_embed(body: Any) -> dict[str, Any]:
    return {"embeddings": [embedding(r["content"]) for r in body["requests"]]}


def responses(
    reply: Any, model: str, *, prompt: int = 1, thinking: bool = False
) -> list[dict[str, Any]]:
    """A scripted answer as the ``GenerateContentResponse`` JSON of each chunk: a text, texts
    (the chunks of a stream: see ``texts_answer``), a response as a dict or a google-genai
    ``types.GenerateContentResponse`` (sent as given), or a list of those."""
    items = reply if isinstance(reply, list) else [reply]
    if all(isinstance(item, str) for item in items):
        return texts_answer(model, items, prompt=prompt, thinking=thinking)
    return [_response_json(item) for item in items]


def _response_json(item: Any) -> dict[str, Any]:
    if isinstance(item, dict):  # a copy: the answer is worked on, the test's dict stays as given
        return copy.deepcopy(item)
    if hasattr(item, "model_dump"):  # a google-genai type, as Google would send it
        dumped: dict[str, Any] = item.model_dump(mode="json", by_alias=True, exclude_none=True)
        dumped.pop("sdkHttpResponse", None)
        return dumped
    raise TypeError(f"a scripted answer cannot be a {type(item).__name__}")


def whole(reply: Any, model: str, *, prompt: int = 1, thinking: bool = False) -> dict[str, Any]:
    """A scripted answer as one response (a non-streamed call): texts joined."""
    items = reply if isinstance(reply, list) else [reply]
    if all(isinstance(item, str) for item in items):
        items = ["".join(items)]
    return merged(responses(items, model, prompt=prompt, thinking=thinking))


def merged(chunks: list[dict[str, Any]]) -> dict[str, Any]:
    """A stream's chunks as one response: the last chunk, with every chunk's parts of each
    candidate (adjacent texts joined)."""
    if len(chunks) == 1:
        return chunks[0]
    whole: dict[str, Any] = json.loads(json.dumps(chunks[-1]))
    for index, candidate in enumerate(whole.get("candidates", [])):
        parts: list[dict[str, Any]] = []
        for chunk in chunks:
            for found in chunk.get("candidates", [])[index : index + 1]:
                for part in found.get("content", {}).get("parts", []):
                    if parts and set(parts[-1]) == set(part) == {"text"}:
                        parts[-1] = {"text": parts[-1]["text"] + part["text"]}
                    else:
                        parts.append(dict(part))
        candidate.setdefault("content", {"role": "model"})["parts"] = parts
    return whole
