"""The suite tests the installed cfgenai, the one its distribution records, never a stray copy;
and that distribution says what an index would show."""

from __future__ import annotations

import json
from importlib.metadata import distribution
from pathlib import Path
from urllib.parse import unquote, urlparse

import cfgenai

DIST = distribution("cfgenai")


def test_the_tests_import_the_installed_package() -> None:
    imported = Path(cfgenai.__file__).resolve()
    direct_url = json.loads(DIST.read_text("direct_url.json") or "{}")
    if direct_url.get("dir_info", {}).get("editable"):  # `uv sync`: the checkout, by a link
        root = Path(unquote(urlparse(direct_url["url"]).path))
        assert imported == (root / "cfgenai" / "__init__.py").resolve()
    else:  # CI (UV_NO_EDITABLE=1) and users: the files the wheel installed
        assert imported == Path(str(DIST.locate_file("cfgenai/__init__.py"))).resolve()
    assert DIST.version == cfgenai.__version__


def test_the_metadata_an_index_shows() -> None:
    metadata = DIST.metadata
    assert metadata["License-Expression"] == "Apache-2.0"
    assert "LICENSE" in (metadata.get_all("License-File") or [])
    assert "Typing :: Typed" in (metadata.get_all("Classifier") or [])
    assert metadata.get_all("Project-URL")
    assert metadata["Keywords"]
    assert metadata["Author"]
    # The long description opens with what the library does, not with a command.
    description = metadata.get_payload()  # type: ignore[attr-defined]
    assert description.startswith("# cfgenai\n\nGoogle's `google-genai` SDK")
