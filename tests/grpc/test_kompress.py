"""Kompress in a running server: prose compressed, a missing or corrupt model survived and reported."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog

from extproc import load_settings
from extproc.errors import KompressUnavailable
from extproc.logging_setup import configure_logging
from extproc.metrics import Metrics
from extproc.server import start_server

from ..unit.kompress.conftest import PROSE, SCORES
from ..unit.kompress.models import write_model_dir
from .bodies import anthropic_body, encode, service_listing, tool_output_of
from .conftest import StartTrimwire
from .envoy_stream import common, set_headers
from .harness import sample_value


@pytest.fixture
def model_dir(tmp_path: Path) -> Path:
    return write_model_dir(tmp_path / "model", SCORES, PROSE.lower().replace(",", " ").replace(".", " ").split())


@contextlib.contextmanager
def json_logging() -> Iterator[None]:
    configure_logging("info")
    try:
        yield
    finally:
        structlog.reset_defaults()


async def compress(harness, body: dict) -> tuple[dict, dict[str, str]]:
    stream = harness.stream()
    await stream.request_headers()
    reply = await stream.body(encode(body))
    await stream.response_headers()
    await stream.finish()  # the request is accounted (metrics, log line) when its stream ends
    mutated = common(reply).body_mutation.body
    return (json.loads(mutated) if mutated else body), set_headers(reply)


class TestKompressServing:
    @pytest.mark.parametrize("workers", [0, 1])
    async def test_prose_tool_output_is_compressed(self, start_trimwire: StartTrimwire, model_dir: Path,
                                                   workers: int) -> None:
        """A prose tool result shrinks through Kompress, in-process and in a worker process; the
        model and provider in use are exported, and the blocks counted."""
        harness = await start_trimwire(workers=workers, kompress={"model_dir": str(model_dir), "device": "cpu"})
        sent = anthropic_body(PROSE * 4)
        received, headers = await compress(harness, sent)
        assert headers["x-trimwire-outcome"] == "compressed"
        assert len(tool_output_of(received)) < len(PROSE * 4)
        assert received["messages"][0] == sent["messages"][0]
        families = await harness.metrics()
        assert sample_value(families, "trimwire_kompress_model", model="model.onnx",
                            provider="CPUExecutionProvider") == 1
        assert sample_value(families, "trimwire_kompress_blocks_total", result="compressed") == 1
        assert sample_value(families, "trimwire_kompress_chunks_total") >= 1

    async def test_structured_output_is_not_kompressed(self, start_trimwire: StartTrimwire, model_dir: Path) -> None:
        """JSON tool output goes to the JSON compressors, never to the model."""
        harness = await start_trimwire(kompress={"model_dir": str(model_dir), "device": "cpu"})
        await compress(harness, anthropic_body(service_listing()))
        assert sample_value(await harness.metrics(), "trimwire_kompress_chunks_total") == 0


class TestModelMissingOrCorrupt:
    @pytest.mark.parametrize("breakage", ["missing", "corrupt"])
    async def test_serves_with_the_structural_compressors(self, start_trimwire: StartTrimwire, model_dir: Path,
                                                          breakage: str, capsys: pytest.CaptureFixture[str]) -> None:
        """No usable model: the server is ready, JSON is still compressed, prose passes unchanged,
        and a metric and one log line say why."""
        if breakage == "missing":
            (model_dir / "model.onnx").unlink()
        else:
            (model_dir / "model.onnx").write_bytes(b"\x08\x01garbage")
        capsys.readouterr()
        with json_logging():
            # no dedup: the prose below is four copies of one text, which it would point back to
            harness = await start_trimwire(kompress={"model_dir": str(model_dir)}, dedup=False)
        lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
        warning = next(line for line in lines if line["event"] == "kompress_unavailable")
        assert warning["reason"] == breakage and str(model_dir) in warning["detail"]
        assert harness.server.ready
        families = await harness.metrics()
        assert sample_value(families, "trimwire_kompress_unavailable", reason=breakage) == 1
        _, headers = await compress(harness, anthropic_body(service_listing()))
        assert headers["x-trimwire-outcome"] == "compressed"
        prose_body = anthropic_body(PROSE * 4)
        received, headers = await compress(harness, prose_body)
        assert tool_output_of(received) == PROSE * 4

    async def test_required_model_stops_start_up(self, tmp_path: Path) -> None:
        """kompress.required: a server without its model does not come up, and says why."""
        settings = load_settings(env={}, grpc_address="127.0.0.1:0", metrics_address="127.0.0.1:0",
                                 api_address="127.0.0.1:0", workers=0,
                                 kompress={"model_dir": str(tmp_path / "absent"), "required": True})
        with pytest.raises(KompressUnavailable, match="absent"):
            await start_server(settings, metrics=Metrics())


class TestStructuralCompressorUnavailable:
    async def test_a_compressor_that_cannot_load_is_reported(self, start_trimwire: StartTrimwire,
                                                             monkeypatch: pytest.MonkeyPatch,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
        """trafilatura failing to import (as on a fresh venv without lxml_html_clean) turns the HTML
        compressor off, and start-up says so the way it says Kompress is off: a log line and a metric."""
        from extproc.compressors import html

        monkeypatch.setattr(html, "AVAILABLE", False)
        monkeypatch.setattr(html, "LOAD_ERROR", "trafilatura: No module named 'lxml_html_clean'")
        capsys.readouterr()
        with json_logging():
            harness = await start_trimwire()
        lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
        warning = next(line for line in lines if line["event"] == "compressor_unavailable")
        assert (warning["compressor"], warning["reason"]) == ("html", "not_installed")
        assert "lxml_html_clean" in warning["detail"]
        families = await harness.metrics()
        assert sample_value(families, "trimwire_compressor_unavailable", compressor="html", reason="not_installed") == 1
