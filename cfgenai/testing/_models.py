"""The models the emulator serves: the Gemini API's ``models.list`` as Google published it on
``LISTED`` (models and their methods), and the 404 Google answers for any other model, or for
a method the model lacks (an embedding model asked to generate, and the reverse).

``GatewayEmulator(models=[...])`` replaces the table (names as strings, in the table or not);
``add_model(name)`` adds one until the next ``reset``. A name the table does not hold is served
as its kind suggests: ``embedding`` in it embeds, ``live`` or ``native-audio`` talks over Live,
anything else generates.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass

from . import _google
from ._answers import Answer

LISTED = "2025-12-01"
_VERTEX_MODEL = re.compile(r"projects/[^/]+/locations/[^/]+/publishers/google/models/[^/:]+")

# What each kind of model supports (Google lists the first methods; the streamed and batched
# twins come with them).
GENERATE = (
    "generateContent",
    "streamGenerateContent",
    "countTokens",
    "createCachedContent",
    "batchGenerateContent",
)
EMBED = ("embedContent", "batchEmbedContents", "asyncBatchEmbedContent", "countTokens")
LIVE = ("bidiGenerateContent", "countTokens")
IMAGES = ("predict",)
VIDEOS = ("predictLongRunning",)


@dataclass(frozen=True)
class Model:
    name: str
    methods: tuple[str, ...] = GENERATE
    thinks: bool = False
    input_tokens: int = 1_048_576
    output_tokens: int = 65_536


TABLE = (
    Model("gemini-3-pro-preview", thinks=True),
    Model("gemini-3-flash-preview", thinks=True),
    Model("gemini-3-pro-image-preview", input_tokens=65_536, output_tokens=32_768),
    Model("gemini-2.5-pro", thinks=True),
    Model("gemini-2.5-flash", thinks=True),
    Model("gemini-2.5-flash-lite"),
    Model("gemini-2.5-flash-image", input_tokens=32_768, output_tokens=32_768),
    Model("gemini-2.5-flash-preview-tts", input_tokens=8_192, output_tokens=16_384),
    Model("gemini-2.5-pro-preview-tts", input_tokens=8_192, output_tokens=16_384),
    Model("gemini-flash-latest", thinks=True),
    Model("gemini-flash-lite-latest"),
    Model("gemini-pro-latest", thinks=True),
    Model("gemini-2.0-flash", output_tokens=8_192),
    Model("gemini-2.0-flash-001", output_tokens=8_192),
    Model("gemini-2.0-flash-lite", output_tokens=8_192),
    Model("gemini-2.0-flash-lite-001", output_tokens=8_192),
    Model("gemini-2.5-flash-native-audio-preview-09-2025", LIVE, thinks=True, input_tokens=131_072),
    Model("gemini-live-2.5-flash-preview", LIVE, input_tokens=131_072, output_tokens=8_192),
    Model("gemini-2.0-flash-live-001", LIVE, input_tokens=131_072, output_tokens=8_192),
    Model("gemini-embedding-001", EMBED, input_tokens=2_048, output_tokens=1),
    Model("gemma-3-27b-it", input_tokens=131_072, output_tokens=8_192),
    Model("imagen-4.0-generate-001", IMAGES, input_tokens=480, output_tokens=8_192),
    Model("veo-3.1-generate-preview", VIDEOS, input_tokens=1_024, output_tokens=1),
)


_TABLED = {m.name: m for m in TABLE}


def model(name: str) -> Model:
    """The table's model ``name``, or one it does not hold, served as its name suggests."""
    if name in _TABLED:
        return _TABLED[name]
    if "embedding" in name:
        return Model(name, EMBED, input_tokens=2_048, output_tokens=1)
    if "live" in name or "native-audio" in name:
        return Model(name, LIVE)
    lite = "lite" in name or not name.startswith(("gemini-2.5", "gemini-3"))
    return Model(name, thinks=not lite)


class Models:
    """The models served: the table, or the emulator's ``models``, and those a test added."""

    def __init__(self, names: Sequence[str] | None) -> None:
        chosen = TABLE if names is None else [model(name) for name in names]
        self._first = {m.name: m for m in chosen}
        self._lock = threading.Lock()
        self._served = dict(self._first)

    def add(self, name: str) -> None:
        with self._lock:
            self._served[name] = model(name)

    def reset(self) -> None:
        with self._lock:
            self._served = dict(self._first)

    def get(self, name: str) -> Model | None:
        return self._served.get(name.removeprefix("models/"))

    def listing(self) -> dict[str, object]:
        return {"models": [info(m) for m in self._served.values()]}

    def refusal(self, name: str, method: str, path: str = "") -> Answer | None:
        """Google's 404 when ``name`` is not served or lacks ``method``; None when it may."""
        found = self.get(name)
        if found is not None and method in found.methods:
            return None
        vertex = _VERTEX_MODEL.search(path)
        if vertex is not None:  # Vertex AI's words
            return _google.error(
                404,
                f"Publisher Model `{vertex[0]}` was not found or your project does not have "
                "access to it. Please ensure you are using a valid model version.",
            )
        return _google.error(404, not_found(name, method))


def not_found(name: str, method: str) -> str:
    return (
        f"models/{name.removeprefix('models/')} is not found for API version v1beta, or is not "
        f"supported for {method}. Call ListModels to see the list of available models and "
        "their supported methods."
    )


def info(model: Model) -> dict[str, object]:
    """A model as ``models.get`` answers it."""
    listed = [m for m in model.methods if m not in ("streamGenerateContent", "batchEmbedContents")]
    answer: dict[str, object] = {
        "name": f"models/{model.name}",
        "version": "001",
        "displayName": model.name,
        "inputTokenLimit": model.input_tokens,
        "outputTokenLimit": model.output_tokens,
        "supportedGenerationMethods": listed,
    }
    if model.thinks:
        answer["thinking"] = True
    return answer
