"""One question to Gemini through Cloudflare AI Gateway, configured from the environment.

CF_AIG_ACCOUNT_ID=... CF_AIG_GATEWAY_ID=... CF_AIG_TOKEN=... python examples/sync_example.py
"""

from cfgenai import client

response = client.models.generate_content(model="gemini-2.5-flash", contents="What is Cloudflare?")
print(response.text)
