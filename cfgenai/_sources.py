"""pydantic-settings' environment and ``.env`` sources, with what they learn about each field
kept from one read to the next.

On every ``GatewaySettings()`` pydantic-settings works out again, for each field, which
variables name it and whether its type is "complex" (JSON): most of the time a read takes.
The answers depend only on the model, so they are computed once; everything else (reading
the environment and the file, precedence, parsing) is pydantic-settings' own code.
"""

from __future__ import annotations

from typing import Any

from pydantic.fields import FieldInfo
from pydantic_settings import DotEnvSettingsSource, EnvSettingsSource

# (model, field name, case sensitivity, prefix) -> the field's variables
_FIELD_INFO: dict[tuple[Any, ...], list[tuple[str, str, bool]]] = {}
# id(field) -> (field, whether it is complex and may fail to parse); the field is kept alive
_COMPLEX: dict[int, tuple[FieldInfo, tuple[bool, bool]]] = {}


class _Remembering(EnvSettingsSource):
    def _extract_field_info(
        self, field: FieldInfo, field_name: str, model_config: Any = None
    ) -> list[tuple[str, str, bool]]:
        if model_config is not None:  # a nested model's field: not ours, not remembered
            return super()._extract_field_info(field, field_name, model_config)
        key = (self.settings_cls, field_name, self.case_sensitive, self.env_prefix)
        info = _FIELD_INFO.get(key)
        if info is None:
            info = _FIELD_INFO[key] = super()._extract_field_info(field, field_name)
        return list(info)

    def _field_is_complex(self, field: FieldInfo) -> tuple[bool, bool]:
        known = _COMPLEX.get(id(field))
        if known is None or known[0] is not field:
            known = _COMPLEX[id(field)] = (field, super()._field_is_complex(field))
        return known[1]


class EnvSource(_Remembering):
    """``EnvSettingsSource``, remembering its per-field facts."""


class DotEnvSource(_Remembering, DotEnvSettingsSource):
    """``DotEnvSettingsSource``, remembering its per-field facts."""


def remembering(env: Any, dotenv: Any) -> tuple[Any, Any]:
    """The default sources pydantic-settings made, as their remembering subclasses (same
    state: they have already read the environment and the file, which must not be read
    twice)."""
    if type(env) is EnvSettingsSource:
        env.__class__ = EnvSource
    if type(dotenv) is DotEnvSettingsSource:
        dotenv.__class__ = DotEnvSource
    return env, dotenv
