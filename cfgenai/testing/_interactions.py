"""Google's Interactions API behind the gateway: ``POST /{version}/interactions`` (whole, or
streamed as server-sent events), ``GET`` and ``DELETE /{version}/interactions/{id}``, in the
shapes google-genai parses (its ``Interaction`` and ``InteractionSSEEvent`` types).

What the model says comes from the script that answers ``generateContent``: the texts of a
scripted answer become a ``model_output`` step (each streamed chunk one ``step.delta``), its
function calls ``function_call`` steps, and the interaction then ``requires_action``.

The API's siblings (agents, webhooks, triggers, environments, credentials, voices) hold
nothing here: listing one answers an empty page, as Google does for a new project.
"""

from __future__ import annotations

import re
import threading
import uuid
from collections.abc import Callable
from typing import Any

from . import _google
from ._answers import Answer
from ._journal import RecordedRequest
from ._resources import not_served, now

INTERACTIONS = re.compile(r"/(?P<version>v\d+\w*)/interactions(?:/(?P<id>[^/:]+))?")
EMPTY_LISTINGS = re.compile(
    r"/v\d+\w*/(?:agents|webhooks|triggers|environments|credentials|voices)"
)

# (request, model, prompt) -> the scripted answer's GenerateContentResponse chunks
Generate = Callable[[RecordedRequest, str, str], list[dict[str, Any]]]
# A step, and the texts it streams as (a model_output step's content, chunk by chunk).
Piece = tuple[dict[str, Any], list[str]]


class Interactions:
    """The interactions created and stored (``store`` is on by default, as at Google)."""

    def __init__(self, generate: Generate) -> None:
        self._generate = generate
        self._lock = threading.Lock()
        self._kept: dict[str, tuple[dict[str, Any], list[Piece]]] = {}

    def clear(self) -> None:
        with self._lock:
            self._kept.clear()

    def answer(self, request: RecordedRequest) -> Answer | None:
        """Google's answer for an Interactions API route, or None when the path is not one."""
        if EMPTY_LISTINGS.fullmatch(request.path):
            return Answer(200, {}) if request.method == "GET" else not_served(request)
        match = INTERACTIONS.fullmatch(request.path)
        if match is None:
            return None
        if match["id"] is None:
            return self._create(request) if request.method == "POST" else not_served(request)
        with self._lock:
            found = self._kept.get(match["id"])
        if found is None:
            return _google.error(404, f"Interaction {match['id']} was not found.")
        interaction, pieces = found
        if request.method == "GET" and request.params.get("stream") == "true":
            return Answer(200, _events(interaction, pieces), stream=True)
        if request.method == "GET":
            return Answer(200, interaction)
        if request.method == "DELETE":
            with self._lock:
                self._kept.pop(match["id"], None)
            return Answer(200, {})
        return not_served(request)

    def _create(self, request: RecordedRequest) -> Answer:
        body = request.json
        previous = body.get("previous_interaction_id")
        with self._lock:
            unknown = previous is not None and previous not in self._kept
        if unknown:
            return _google.error(404, f"Interaction {previous} was not found.")
        kind = "agent" if "agent" in body else "model"
        model = body.get(kind)
        if not isinstance(model, str):
            return _google.error(400, "An interaction needs a model or an agent.")
        chunks = self._generate(request, model, input_text(body.get("input")))
        pieces = _pieces(chunks)
        steps = [_whole(step, texts) for step, texts in pieces]
        calls = any(step["type"] == "function_call" for step in steps)
        stamp = now()
        interaction: dict[str, Any] = {
            "id": f"v1_{uuid.uuid4().hex}",
            kind: model,
            "status": "requires_action" if calls else "completed",
            "created": stamp,
            "updated": stamp,
            "role": "model",
            "steps": steps,
            "usage": _usage(chunks[-1].get("usageMetadata", {})),
        }
        if previous is not None:
            interaction["previous_interaction_id"] = previous
        if body.get("store", True):
            with self._lock:
                self._kept[interaction["id"]] = interaction, pieces
        if body.get("stream") is True:
            return Answer(200, _events(interaction, pieces), stream=True)
        return Answer(200, interaction)


def input_text(value: Any) -> str:
    """The text of an interaction's input: a string, a content or a list of contents, or
    the last of a list of steps."""
    if isinstance(value, str):
        return value
    items = [value] if isinstance(value, dict) else value
    if not isinstance(items, list) or not items:
        return ""
    if any(isinstance(item, dict) and "content" in item for item in items):  # steps
        return input_text(items[-1].get("content"))
    return " ".join(item["text"] for item in items if item.get("type") == "text")


def _pieces(chunks: list[dict[str, Any]]) -> list[Piece]:
    """The output steps of a Gemini answer's chunks (its first candidate's parts)."""
    pieces: list[Piece] = []
    for chunk in chunks:
        for candidate in chunk.get("candidates", [])[:1]:
            for part in candidate.get("content", {}).get("parts", []):
                call = part.get("functionCall")
                if call is not None:
                    step = {
                        "type": "function_call",
                        "id": call.get("id") or f"call_{uuid.uuid4().hex[:12]}",
                        "name": call["name"],
                        "arguments": call.get("args", {}),
                    }
                    pieces.append((step, []))
                elif "text" in part and not part.get("thought"):
                    if not pieces or pieces[-1][0]["type"] != "model_output":
                        pieces.append(({"type": "model_output"}, []))
                    pieces[-1][1].append(part["text"])
    return pieces


def _whole(step: dict[str, Any], texts: list[str]) -> dict[str, Any]:
    if step["type"] != "model_output":
        return step
    return {**step, "content": [{"type": "text", "text": "".join(texts)}]}


def _usage(metadata: dict[str, Any]) -> dict[str, Any]:
    names = {
        "promptTokenCount": "total_input_tokens",
        "candidatesTokenCount": "total_output_tokens",
        "thoughtsTokenCount": "total_thought_tokens",
        "totalTokenCount": "total_tokens",
    }
    return {ours: metadata[theirs] for theirs, ours in names.items() if theirs in metadata}


def _events(interaction: dict[str, Any], pieces: list[Piece]) -> list[dict[str, Any]]:
    """The server-sent events of an interaction: created, each step's start, deltas and stop,
    then completed (without the steps, which the deltas carried)."""
    head = {key: interaction[key] for key in ("id", "created", "updated")}
    events: list[dict[str, Any]] = [
        {"event_type": "interaction.created", "interaction": {**head, "status": "in_progress"}}
    ]
    for index, (step, texts) in enumerate(pieces):
        events.append({"event_type": "step.start", "index": index, "step": step})
        events += [
            {"event_type": "step.delta", "index": index, "delta": {"type": "text", "text": text}}
            for text in texts
        ]
        events.append({"event_type": "step.stop", "index": index})
    done = {key: value for key, value in interaction.items() if key != "steps"}
    events.append({"event_type": "interaction.completed", "interaction": done})
    return [{**event, "event_id": str(number)} for number, event in enumerate(events)]
