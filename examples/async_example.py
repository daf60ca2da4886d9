"""Several questions at once with the async client, plus one streamed answer."""

import asyncio

from cfgenai import client

QUESTIONS = ["What is Cloudflare?", "What is an AI gateway?", "What is BYOK?"]


async def main() -> None:
    async with client.aio as aio:  # closes the async transport when done
        answers = await asyncio.gather(
            *(aio.models.generate_content(model="gemini-2.5-flash", contents=q) for q in QUESTIONS)
        )
        for answer in answers:
            print(answer.text)
        stream = await aio.models.generate_content_stream(
            model="gemini-2.5-flash", contents="Stream this answer."
        )
        async for chunk in stream:
            print(chunk.text, end="", flush=True)
        print()


asyncio.run(main())
