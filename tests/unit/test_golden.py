"""Golden outputs: a compressor's output changes only with a ``_CACHE_SCHEMA`` bump (golden/__init__.py)."""

from __future__ import annotations

import pytest

from extproc.compressors import default_routes

from .golden import CASES, REGENERATE, Case, read_golden, render
from .golden import parse as parse_golden
from .golden.__main__ import main as regenerate


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_output_is_the_pinned_one(case: Case):
    """What the compressor makes of its input is what was pinned under this cache schema version."""
    pinned = read_golden(case)
    assert pinned is not None, f"{case.name} has no golden output yet: run {REGENERATE}"
    made = parse_golden(render(case, case.make()))
    assert not pinned.changed_unkeyed(made), (
        f"outputs changed: bump _CACHE_SCHEMA in extproc/pipeline/core.py and regenerate with {REGENERATE}")
    assert (pinned.schema, pinned.settings) == (made.schema, made.settings), (
        f"golden/{case.name}.txt was made under {pinned.schema} and other settings: regenerate with {REGENERATE}")


def test_every_routed_compressor_has_a_golden_output():
    """A compressor added to the default routes (or Kompress) cannot go without a pinned output."""
    routed = {compressor.name for compressors in default_routes().values() for compressor in compressors}
    pinned = {case.make().name for case in CASES}
    assert routed | {"kompress"} <= pinned


def test_regenerating_refuses_a_change_under_the_same_schema(monkeypatch, tmp_path, capsys):
    """A changed output is not written over the pinned one until the schema version is bumped."""
    from . import golden
    from .golden import __main__ as script

    case = next(case for case in CASES if case.name == "json_compact")
    path = tmp_path / f"{case.name}.txt"
    stale = render(case, case.make()).replace('"express"', '"expresso"')
    path.write_text(stale)
    monkeypatch.setattr(script, "CASES", (case,))
    monkeypatch.setattr(golden, "HERE", tmp_path)
    monkeypatch.setattr(script, "HERE", tmp_path)
    assert regenerate() == 1 and path.read_text() == stale
    assert "bump _CACHE_SCHEMA" in capsys.readouterr().err
    monkeypatch.setattr(golden, "_CACHE_SCHEMA", "trimwire-block-cache-next")
    assert regenerate() == 0
    assert parse_golden(path.read_text()) == parse_golden(render(case, case.make()))


def test_regenerating_takes_a_change_of_settings(monkeypatch, tmp_path):
    """Other compressor settings are in the cache key already: their output is written without a bump."""
    from . import golden
    from .golden import __main__ as script

    case = next(case for case in CASES if case.name == "json_compact")
    path = tmp_path / f"{case.name}.txt"
    path.write_text(render(case, case.make()).replace("settings: ", "settings: 0ld").replace('"express"', '"x"'))
    monkeypatch.setattr(script, "CASES", (case,))
    monkeypatch.setattr(golden, "HERE", tmp_path)
    monkeypatch.setattr(script, "HERE", tmp_path)
    assert regenerate() == 0 and path.read_text() == render(case, case.make())
