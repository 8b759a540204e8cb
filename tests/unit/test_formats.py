"""Choosing a format: by request path (gateway prefixes, query strings) or by body shape."""

from __future__ import annotations

import pytest

from extproc import UnsupportedBody
from extproc.formats import FORMATS, detect_format, format_for_path, parse_body

from .bodies import anthropic_body, openai_chat_body, openai_responses_body


class TestFormatForPath:
    @pytest.mark.parametrize(("path", "expected"), [
        ("/v1/chat/completions", "openai"),
        ("/v1/messages", "anthropic"),
        ("/v1/responses", "responses"),
        ("/llm/ext-opus/v1/messages", "anthropic"),
        ("/llm/gpt-4o/v1/chat/completions", "openai"),
        ("/openai/v1/responses", "responses"),
        ("/v1/messages?beta=true", "anthropic"),
        ("/v1/chat/completions?api-version=2024-10-21&x=/v1/messages", "openai"),
        ("/v1/responses/", "responses"),
        ("/llm/ext-opus/v1/messages/?beta=true", "anthropic"),
    ])
    def test_known_paths(self, path, expected):
        """A known API suffix picks its format whatever prefix, query or trailing slash surrounds it."""
        assert format_for_path(path) == expected

    @pytest.mark.parametrize("path", [
        "", "/", "/v1/models", "/v1/messages/count_tokens", "/v1/embeddings", "/v1/completions",
        "/v2/messages", "/xv1/messages", "/V1/Messages", "/v1/responses/resp_123", "/health?path=/v1/messages",
    ])
    def test_unknown_paths(self, path):
        """Anything that does not end in a known API path is not ours."""
        assert format_for_path(path) is None


class TestDetectFormat:
    def test_fixtures_are_recognised(self):
        """Each real-shaped body is detected as the format it was written in."""
        assert detect_format(openai_chat_body()) == "openai"
        assert detect_format(anthropic_body()) == "anthropic"
        assert detect_format(openai_responses_body()) == "responses"

    def test_anthropic_without_system_by_its_blocks(self):
        """Anthropic is told apart from OpenAI by tool_use/tool_result/thinking blocks."""
        body = {"messages": [{"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "t", "content": "ok"}]}]}
        assert detect_format(body) == "anthropic"

    def test_plain_messages_default_to_openai(self):
        """Messages with only text content are read as OpenAI chat."""
        body = {"messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}, "junk"]}
        assert detect_format(body) == "openai"

    def test_no_messages_or_input_raises(self):
        """A body with neither messages nor input has no format."""
        with pytest.raises(UnsupportedBody, match="no messages or input"):
            detect_format({"prompt": "hi"})


class TestParseBody:
    def test_every_registered_format_parses(self):
        """parse_body dispatches to each registered adapter by name."""
        bodies = {"openai": openai_chat_body(), "anthropic": anthropic_body(),
                  "responses": openai_responses_body()}
        assert set(FORMATS) == set(bodies)
        for name, body in bodies.items():
            assert parse_body(name, body).format == name

    @pytest.mark.parametrize("body", [[], "text", 3, None])
    def test_non_object_body_raises(self, body):
        """A JSON value that is not an object is not a request body."""
        with pytest.raises(UnsupportedBody, match="not a JSON object"):
            parse_body("openai", body)

    def test_unknown_format_raises(self):
        """A format name nobody registered is unsupported, not a KeyError."""
        with pytest.raises(UnsupportedBody, match="unknown format 'gemini'"):
            parse_body("gemini", {"contents": []})
