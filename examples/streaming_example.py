"""An answer printed as it arrives (server-sent events through the gateway)."""

from cfgenai import client

for chunk in client.models.generate_content_stream(
    model="gemini-2.5-flash", contents="Explain AI Gateway caching in three sentences."
):
    print(chunk.text, end="", flush=True)
print()
