"""Wire formats: which adapter reads a body, chosen by path suffix or by the body's shape.

An adapter is a module with five names (``Adapter``): ``ITEMS``, the body's array of messages
or items; ``head(body)``, the Conversation with the blocks outside that array (system prompt,
instructions); ``item_calls(item)``, the tool calls an item makes; and ``add_item``, which adds
an item's blocks, each with the path of its string in the body (``Block.path``); and
``user_text``, what the user wrote in an item (the question later tool results answer). Items are read
one by one so the caller may skip those it has seen before (``messages.py``). To add a format:
write such a module here and register it in ``adapters.py``.
"""

from ..conversation import ToolCall
from . import anthropic_messages, openai_chat, openai_responses
from .adapters import FORMATS, Adapter, adapter_for, detect_format, format_for_path, parse_body

__all__ = ["Adapter", "FORMATS", "ToolCall", "adapter_for", "anthropic_messages", "detect_format",
           "format_for_path", "openai_chat", "openai_responses", "parse_body"]
