"""Two gateways in one process: one set of variables, one override each.

    CF_AIG_ACCOUNT_ID=... CF_AIG_TOKEN=... python examples/two_gateways.py

Each `build_client()` reads the environment once and returns its own client; the overrides are
ordinary settings. (A CF_AIG_BASE_URL names one gateway's root, so set it for neither.)
"""

from cfgenai import build_client

production = build_client(gateway_id="production")
experiments = build_client(gateway_id="experiments", cache_ttl=3600, collect_log=False)

for name, client in (("production", production), ("experiments", experiments)):
    answer = client.models.generate_content(model="gemini-2.5-flash", contents="Say hello.")
    print(f"{name}: {answer.text}")
