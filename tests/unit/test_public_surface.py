"""The package's public names: a deliberate, small list that a change must update here too."""

from __future__ import annotations

import importlib

import pytest

import extproc
from extproc import errors

EXPECTED = {
    "Block", "BodyEngine", "BodyRequest", "BodyResult", "BodyTooLarge", "Compressor",
    "ConfigError", "Conversation", "Kind", "PassThrough", "Pipeline", "Policy", "RequestOutcome",
    "Settings", "TrimwireError", "UnsupportedBody", "build_engine", "load_settings",
}


class TestPublicSurface:
    def test_all_is_the_expected_set(self):
        """extproc.__all__ lists exactly the agreed public names, each once."""
        assert set(extproc.__all__) == EXPECTED
        assert len(extproc.__all__) == len(EXPECTED)

    @pytest.mark.parametrize("name", sorted(EXPECTED))
    def test_every_name_resolves(self, name):
        """Each public name is importable from the package and is defined in extproc."""
        value = getattr(extproc, name)
        assert value.__module__.startswith("extproc.")

    @pytest.mark.parametrize("module", [
        "codec", "compress", "config", "conversation", "envoy_wire", "errors", "formats", "metrics",
        "pipeline", "pipeline.age", "pipeline.policy", "pipeline.router", "pipeline.shapes", "compressors",
        "compressors.content_types", "compressors.json_compact",
        "tokens",
    ])
    def test_module_all_names_resolve(self, module):
        """Every name a module lists in __all__ exists in it."""
        mod = importlib.import_module(f"extproc.{module}")
        assert [name for name in mod.__all__ if not hasattr(mod, name)] == []

    def test_error_tree(self):
        """The error hierarchy is the one errors.py documents."""
        assert issubclass(extproc.ConfigError, extproc.TrimwireError)
        assert issubclass(extproc.UnsupportedBody, extproc.PassThrough)
        assert issubclass(extproc.BodyTooLarge, extproc.PassThrough)
        assert issubclass(extproc.PassThrough, extproc.TrimwireError)
        assert issubclass(errors.UsageError, extproc.TrimwireError)
        assert issubclass(errors.KompressUnavailable, extproc.TrimwireError)
        assert extproc.UnsupportedBody("x", reason="invalid_json").reason == "invalid_json"
        assert (extproc.BodyTooLarge().reason, str(extproc.BodyTooLarge())) == ("too_large", "too_large")
