"""What ``bench_compression.py`` measures, applied identically to every tool's output.

* Tokens: every string value in the ``messages`` array (content, tool arguments, ids, roles;
  not the keys), each counted with cl100k_base (``extproc.tokens``) and summed per message. The
  Anthropic top-level ``system``, ``tools`` and other body fields are outside the count.
* Turns: an agent resends the whole conversation each request, so a corpus conversation is
  split into growing prefixes that end after each tool result; each prefix is one request.
* Cache-priced cost (Anthropic prompt caching): turn 1 is written to the cache, 1.25x per token;
  turn k reads the longest run of leading messages that are identical to turn k-1's request
  (0.1x) and writes the rest (1.25x). A tool that rewrites what it already sent pays 1.25x again.
* Probes: an answer is retained when its exact string is inside one string of the messages.
* Validity: the body parses as strict JSON, trimwire's format adapter accepts it, and every
  message keeps its role and tool-call / tool-result ids in the original order.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from extproc.errors import PassThrough
from extproc.formats import parse_body
from extproc.tokens import TokenCounter

__all__ = ["CACHE_READ", "CACHE_WRITE", "Turn", "RowResult", "turn_ends", "Meter"]

CACHE_READ = 0.1    # Anthropic: cache hits cost 0.1x the base input price
CACHE_WRITE = 1.25  # 5-minute cache writes cost 1.25x


def turn_ends(messages: list[dict]) -> list[int]:
    """Message counts of the requests an agent sent: one after each (run of) tool result(s)."""
    ends = []
    for i, message in enumerate(messages):
        if _is_tool_result(message) and not (i + 1 < len(messages) and _is_tool_result(messages[i + 1])
                                             and message.get("role") == "tool"):
            ends.append(i + 1)
    return ends or [len(messages)]


def _is_tool_result(message: dict) -> bool:
    content = message.get("content")
    return message.get("role") == "tool" or (isinstance(content, list) and any(
        isinstance(b, dict) and b.get("type") == "tool_result" for b in content))


def strings(node: Any) -> Iterator[str]:
    """Every string value under ``node`` (dict keys excluded), depth first."""
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for value in node.values():
            yield from strings(value)
    elif isinstance(node, list):
        for value in node:
            yield from strings(value)


def _skeleton(messages: list[dict]) -> list[tuple]:
    """Role and tool-call ids per message: what an API checks when pairing calls and results."""
    out = []
    for m in messages:
        ids = [c.get("id") for c in m.get("tool_calls") or [] if isinstance(c, dict)]
        ids += [m["tool_call_id"]] if "tool_call_id" in m else []
        for b in m.get("content") if isinstance(m.get("content"), list) else []:
            if isinstance(b, dict) and b.get("type") in ("tool_use", "tool_result"):
                ids.append(b.get("id") or b.get("tool_use_id"))
        out.append((m.get("role"), tuple(ids)))
    return out


@dataclass(slots=True)
class Turn:
    """One tool's answer for one request."""

    messages: list[dict]      # messages it would send upstream
    body: bytes               # the whole body it would send
    ms: float
    error: str = ""


@dataclass(slots=True)
class RowResult:
    """One tool on one corpus conversation."""

    tokens_before: int = 0    # last request, as the agent sent it
    tokens_after: int = 0     # last request, as the tool forwards it
    probes_kept: int = 0
    probes: int = 0
    valid: bool = True
    errors: int = 0
    ms_last: float = 0.0
    ms_turns: list[float] = field(default_factory=list)
    cost_none: float = 0.0    # cache-priced cost of all turns without compression
    cost_tool: float = 0.0
    busts: int = 0            # turns whose request rewrote part of the previous one


class Meter:
    """Counts tokens and prices turns; one per run so the token cache spans tools and rows."""

    def __init__(self) -> None:
        self.tokens = TokenCounter(cache_bytes=64 * 1024 * 1024)

    def message_tokens(self, message: dict) -> int:
        return sum(self.tokens.count(s) for s in strings(message))

    def price(self, previous: list[dict] | None, messages: list[dict]) -> tuple[float, bool]:
        """Cache-priced cost of sending ``messages`` after ``previous``, and whether it busted."""
        keep = 0
        if previous is not None:
            while keep < min(len(previous), len(messages)) and previous[keep] == messages[keep]:
                keep += 1
        counts = [self.message_tokens(m) for m in messages]
        cost = CACHE_READ * sum(counts[:keep]) + CACHE_WRITE * sum(counts[keep:])
        return cost, previous is not None and keep < len(previous)

    def measure(self, row: dict, turns: Iterator[Turn]) -> RowResult:
        """Consume one tool's turns for ``row`` (in order) and return the row's figures."""
        messages = row["body"]["messages"]
        result = RowResult()
        prev_orig = prev_tool = None
        for end, turn in zip(turn_ends(messages), turns):
            original = messages[:end]
            cost, _ = self.price(prev_orig, original)
            result.cost_none += cost
            cost, busted = self.price(prev_tool, turn.messages)
            result.cost_tool += cost
            result.busts += busted
            result.errors += bool(turn.error)
            result.ms_turns.append(turn.ms)
            prev_orig, prev_tool = original, turn.messages
        result.valid = self.valid(row["format"], turn.body, messages)
        result.ms_last = turn.ms
        result.tokens_before = sum(self.message_tokens(m) for m in messages)
        result.tokens_after = sum(self.message_tokens(m) for m in turn.messages)
        texts = list(strings(turn.messages))
        answers = [p["a"] for p in row["probes"] if any(p["a"] in s for s in strings(messages))]
        result.probes = len(answers)
        result.probes_kept = sum(any(a in s for s in texts) for a in answers)
        return result

    @staticmethod
    def valid(fmt: str, body: bytes, original: list[dict]) -> bool:
        """Strict JSON, accepted by trimwire's adapter, same roles and tool-call ids in order."""
        try:
            parsed = json.loads(body.decode("utf-8"))
            parse_body(fmt, parsed)
        except (ValueError, TypeError, KeyError, AttributeError, PassThrough):
            return False
        return _skeleton(parsed["messages"]) == _skeleton(original)
