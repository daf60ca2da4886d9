"""A Cloudflare AI Gateway emulator for tests: a real HTTP server on a loopback port.

Needs the ``testing`` extra: ``pip install 'cfgenai[testing]'``.
"""

try:
    from ._emulator import GatewayEmulator
    from ._journal import RecordedRequest
except ImportError as exc:  # pragma: no cover - depends on what is installed
    raise ImportError(
        "cfgenai.testing needs the emulator's server libraries; install them with "
        "pip install 'cfgenai[testing]'"
    ) from exc

__all__ = ["GatewayEmulator", "RecordedRequest"]
