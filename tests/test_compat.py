"""The private shapes of google-genai that cfgenai relies on (``cfgenai._compat``).

CI runs the suite on the lowest google-genai cfgenai supports and on the newest; a release
that changes one of these shapes fails here, by name, before anything subtler breaks.
"""

from __future__ import annotations

import asyncio

from google import genai

from cfgenai import _compat


def _client() -> genai.Client:
    return genai.Client(api_key="shape-test-key")


def test_a_client_keeps_its_sender_and_its_async_side_in_its_instance_dictionary() -> None:
    client = _client()
    sender = _compat.api_client(client)
    assert sender is not None, "genai.Client no longer keeps `_api_client` in its __dict__"
    assert "_aio" in vars(client), "genai.Client no longer keeps `_aio` in its __dict__"
    assert client.aio is vars(client)["_aio"]
    assert _compat.api_client(client.aio) is sender, "`aio` no longer shares the sender"


def test_an_httpx_client_names_the_transport_for_a_url() -> None:
    module = _compat.httpx_module()
    mounted = module.AsyncHTTPTransport()
    client = module.AsyncClient(mounts={"http://proxied.example": mounted})
    assert _compat.transport_for(client, module.URL("http://proxied.example/x")) is mounted
    assert _compat.transport_for(client, module.URL("http://127.0.0.1/x")) is client._transport


def test_a_proxy_sharing_the_dictionary_runs_as_the_client() -> None:
    client = _client()

    class Proxy(genai.Client):
        def __init__(self) -> None:
            pass

    proxy = Proxy()
    _compat.share_state(proxy, client)
    assert proxy.models is client.models
    assert proxy.aio is client.aio
    _compat.share_state(proxy, None)
    assert vars(proxy) == {}


def test_the_async_side_can_be_given_a_subclass_that_sees_its_close() -> None:
    client = _client()
    closed: list[object] = []

    class Watched(genai.client.AsyncClient):
        async def aclose(self) -> None:
            await super().aclose()
            closed.append(_compat.api_client(self))

    _compat.set_aio_class(client, Watched)
    asyncio.run(client.aio.aclose())
    assert closed == [_compat.api_client(client)]


def test_a_client_closes_its_transport_when_collected() -> None:
    # cfgenai's clients skip this early close (see _client._Client.__del__): should
    # google-genai drop it, the override is no longer needed and this fails to say so.
    assert "__del__" in vars(genai.Client)
