"""LangChain's and LlamaIndex's models over the gateway, which cannot take a ``genai.Client``
(pydantic-ai, Google ADK and instructor take ``cfgenai.client`` as it is)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from google import genai

from .._client import client_kwargs
from .._errors import ConfigError, optional

if TYPE_CHECKING:
    from langchain_google_genai import ChatGoogleGenerativeAI
    from llama_index.llms.google_genai import GoogleGenAI

__all__ = ["langchain_chat", "llama_index_llm"]


def langchain_chat(model: str, **kwargs: Any) -> ChatGoogleGenerativeAI:
    """LangChain's ``ChatGoogleGenerativeAI`` for ``model``, through the gateway to the Gemini
    API; reads what ``build_client`` reads."""
    module, options = _framework("langchain_google_genai", "langchain")
    chat: ChatGoogleGenerativeAI = module.ChatGoogleGenerativeAI(
        model=model, google_api_key=options["api_key"], **kwargs
    )
    # It builds its own client from google_api_key and ignores a client argument.
    chat.client = genai.Client(**options)
    return chat


def llama_index_llm(model: str, **kwargs: Any) -> GoogleGenAI:
    """LlamaIndex's ``GoogleGenAI`` LLM for ``model``, through the gateway to the Gemini API;
    reads what ``build_client`` reads."""
    module, options = _framework("llama_index.llms.google_genai", "llama-index")
    # It takes no client, and rebuilds HttpOptions from their JSON form, which cannot carry
    # cfgenai's hooks: as a dict, they are kept as they are.
    return module.GoogleGenAI(
        model=model,
        api_key=options["api_key"],
        http_options=options["http_options"].model_dump(exclude_none=True),
        debug_config=options["debug_config"],
        **kwargs,
    )


def _framework(module: str, extra: str) -> tuple[Any, dict[str, Any]]:
    """The framework's module, and the Gemini API client's arguments."""
    imported = optional(module, extra)
    options = client_kwargs()
    if options["vertexai"]:
        why = "CF_AIG_PROVIDER: LangChain/LlamaIndex serve the Gemini API only"
        fix = "unset it, or for Vertex AI pass cfgenai.client_kwargs() to genai.Client yourself"
        raise ConfigError([f"{why}; {fix}"])
    return imported, options
