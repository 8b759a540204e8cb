"""Reading dedup's pointers back, as the model would: from the conversation as it was sent alone.

``check_pointers`` asserts every pointer stands for exactly the lines it replaced; ``expand``
puts back the lines a pointer names, taking them from the earlier output or tool-call argument
it names (by its line numbers where that text shows them, else by counting its lines). Written apart from ``extproc.pipeline.runs`` so the
tests check the pointers against what they say, not against the code that wrote them.
"""

from __future__ import annotations

import json
import re
from typing import Any

POINTER = re.compile(
    r"^\[trimwire: (?:lines (?P<a>\d+)-(?P<b>\d+)|(?P<count>\d+) lines) = lines (?P<c>\d+)-(?P<d>\d+) "
    r"(?:(?P<self>above in this output)|of the (?:output|(?P<key>\w+) argument) of (?P<id>\S+)(?: \(.*?\))?)"
    r"(?P<bare> \(without their line numbers\))?\]$")
NUMBER = re.compile(r" *(\d+)(?:\t|→)|(?:[^\s:]+[:-])?(\d+)[:-](?!\d)")


def number_of(line: str) -> tuple[int | None, str]:
    match = NUMBER.match(line)
    return (None, line) if match is None else (int(match.group(1) or match.group(2)), line[match.end():])


def shows_numbers(lines: list[str]) -> bool:
    """Whether "lines A-B" of the text name its printed numbers: they rise, on three lines or more."""
    numbers = [n for n, _ in map(number_of, lines) if n is not None]
    return len(numbers) >= 3 and all(b > a for a, b in zip(numbers, numbers[1:]))


def texts_of(messages: list[dict[str, Any]]) -> dict[tuple[str, str | None], str]:
    """Anthropic or chat messages -> {(call id, None): output, (call id, key): argument text}."""
    found: dict[tuple[str, str | None], str] = {}
    for message in messages:
        for call in message.get("tool_calls") or []:
            for key, value in json.loads(call["function"]["arguments"]).items():
                found[(call["id"], key)] = _argument(value)
        if message.get("role") == "tool":
            found[(message["tool_call_id"], None)] = message["content"]
        for part in message.get("content") if isinstance(message.get("content"), list) else []:
            if part.get("type") == "tool_use":
                for key, value in part["input"].items():
                    found[(part["id"], key)] = _argument(value)
            elif part.get("type") == "tool_result":
                found[(part["tool_use_id"], None)] = part["content"]
    return found


def _argument(value: Any) -> str:
    """An argument's text: a string, or of a list (``["bash", "-lc", "..."]``) its first multi-line string."""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return next((item for item in value if isinstance(item, str) and item.count("\n") >= 2), "")
    return ""


def output_text(text: str) -> str:
    """A tool output's lines as a pointer counts them: Codex's JSON envelope's output string."""
    if text.lstrip().startswith("{"):
        try:
            value = json.loads(text)
        except ValueError:
            return text
        strings = [item for item in value.values() if isinstance(item, str)] if isinstance(value, dict) else []
        if strings and "\n" in max(strings, key=len):
            return max(strings, key=len)
    return text


def _read(lines: list[str], first: int, last: int, numbered: bool) -> list[str]:
    if numbered:
        picked = [line for line in lines if first <= (number_of(line)[0] or 0) <= last]
        assert [number_of(line)[0] for line in picked] == list(range(first, last + 1))
        return picked
    assert 1 <= first <= last <= len(lines)
    return lines[first - 1:last]


def check_pointers(sent: str, original: str, texts: dict[tuple[str, str | None], str]) -> int:
    """Assert every pointer in ``sent`` stands for exactly the lines of ``original`` it replaced;
    return how many pointers there were."""
    want = original.split("\n")
    sent_numbered = shows_numbers(sent.split("\n"))
    at = 0
    out: list[str] = []
    pointers = 0
    for line in sent.split("\n"):
        match = POINTER.match(line)
        if match is None:
            assert line == want[at], f"line {at + 1} differs"
            out.append(line)
            at += 1
            continue
        pointers += 1
        first, last = int(match["c"]), int(match["d"])
        if match["self"]:
            source, numbered = out, sent_numbered
        else:
            source = output_text(texts[(match["id"], match["key"])]).split("\n")
            numbered = shows_numbers(source)
        theirs = _read(source, first, last, numbered)
        count = int(match["count"]) if match["count"] else int(match["b"]) - int(match["a"]) + 1
        mine = want[at:at + count]
        assert len(theirs) == len(mine) == count
        if match["a"]:  # named by their numbers: the same content after them, those numbers
            assert [number_of(line)[0] for line in mine] == list(range(int(match["a"]), int(match["b"]) + 1))
            assert [number_of(line)[1] for line in mine] == [
                number_of(line)[1] if numbered else line for line in theirs]
        elif match["bare"]:
            assert mine == [number_of(line)[1] for line in theirs]
        else:
            assert mine == theirs
        out.append(line)
        at += count
    assert at == len(want)
    return pointers


def expand(sent: str, texts: dict[tuple[str, str | None], str]) -> str:
    """``sent`` with every pointer replaced by the lines it names, read as the model would: from
    the earlier text it names (``texts``, as sent) or from this output as sent. A run named with
    line numbers on a numbered side comes back as those lines' content after their numbers, so
    only lines a pointer names verbatim come back whole."""
    lines = sent.split("\n")
    numbered = shows_numbers(lines)
    out: list[str] = []
    for line in lines:
        match = POINTER.match(line)
        if match is None:
            out.append(line)
            continue
        if match["self"]:
            source, their_numbers = lines, numbered
        else:
            source = output_text(texts[(match["id"], match["key"])]).split("\n")
            their_numbers = shows_numbers(source)
        theirs = _read(source, int(match["c"]), int(match["d"]), their_numbers)
        strip = match["bare"] or (match["a"] and their_numbers)
        out += [number_of(item)[1] for item in theirs] if strip else theirs
    return "\n".join(out)
