"""Is Kompress's model worth it? Quality against rule-only baselines, speed and memory, in one run.

Quality, at the same keep ratio (``--keep-ratio``, several allowed), on held-out text only:

* the shared corpus (read in place, never copied): tool outputs with at least 20 words in prose
  lines (``words.split_prose``), and user/assistant messages of at least 40 prose words that are
  mostly prose (prose Kompress never touches in production, but real held-out prose); each row's
  probes count for a text when the answer string occurs in it;
* man pages rendered to text (``man --nh --nj -P cat``, 90 columns, body indent removed): not a
  source of ``scripts/train_kompress.py``, which trains on dist-info METADATA, stdlib docstrings
  and Debian /usr/share/doc READMEs, NEWS and changelogs.

Four ways of choosing the words of every text, which differ only in the ranking (all reuse
``split_prose`` and ``ProseText.join``): **model** (``Kompress.compress_within`` as shipped:
must-keep rules, then model scores), **rule-only** (the same rules and prose lines, candidates
ranked rarest first by their count over the texts of the same source: frequent words, the
stopwords and fillers, go first), **frequency-only** (no rules: every prose word ranked by count)
and **random** (the rules, then a seeded shuffle). All keep the same number of words per text.
Measured: words kept, probe answers retained, must-keep words (``rules.must_keep``) retained,
content words retained (a teacher-free proxy: capitalised words not at a sentence start, words
with a digit, and words of 4+ letters found in at most 2 texts of their source), open-class words
retained (not in a fixed function-word list) and tokens (``extproc.tokens.TokenCounter``). Where
the model does not beat rule-only (McNemar on the words only one of them kept), it says so.

Speed: ``ScoringModel.scores`` on random valid token ids, chunks of ``max_tokens`` (510) at batch
1 to 32, 1 and 2 intra-op threads, median of repeats; ``compress_within`` on a ~100k-token prose
text end to end. Memory: RSS after loading and after 200 inference calls of random shapes, with
``cpu_arena`` off and on, each in a fresh subprocess (the two side by side).

Prose (``--parts prose``, in ``_kompress_prose.py``): how often Kompress fires on the documents
agents read (man pages and ``--help`` as printed, READMEs, reStructuredText, changelogs, issue
threads, web pages after HTML extraction), what it saves there against rule-only, whether every
must-keep word stays, and what share of a 13k-token man page it thins within the deadline.

    python scripts/bench_kompress.py [--model-dir DIR] [--device auto|cpu|cuda] [--keep-ratio 0.6 ...]
        [--quick] [--write] [--json PATH] [--parts quality,speed,e2e,memory,prose]

``--write`` replaces the kompress section of docs/benchmarks.md with the tables (the prose part
its own kompress-prose section).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import platform
import random
import re
import shlex
import statistics
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from extproc.compressors.kompress import Kompress, load_kompress  # noqa: E402
from extproc.compressors.kompress.model import EMBEDDED_DIR, ScoringModel, load_model  # noqa: E402
from extproc.compressors.kompress.rules import must_keep  # noqa: E402
from extproc.compressors.kompress.words import ProseText, Word, looks_like_prose, prose_share, split_prose  # noqa: E402
from extproc.config import DEFAULT_KOMPRESS_QUEUE_CHUNKS, KompressSettings, Settings  # noqa: E402
from extproc.cpus import cpu_share  # noqa: E402
from extproc.errors import KompressUnavailable  # noqa: E402
from extproc.pipeline import Budget  # noqa: E402
from extproc.tokens import ENCODING_NAME, TokenCounter  # noqa: E402
from scripts._benchmarks_doc import write_section  # noqa: E402
from scripts._kompress_prose import man_page_files, prose_lines, prose_part  # noqa: E402

CORPUS = ROOT.parent / "shared" / "corpus" / "corpus.jsonl"
MAN_DIRS = ("/usr/share/man/man1", "/usr/share/man/man8", "/usr/share/man/man5")
MAN_INDENT = 7             # columns man indents body text by (option bodies sit at 14)
MAN_MAX_CHARS = 20_000      # a page's first 20k characters: bash(1) alone would outweigh the rest
METHODS = ("model", "rule-only", "frequency-only", "random")
EDGE = "\"'`()[]{}<>,;:.!?*"  # rules.py's edge punctuation
RARE_MAX_TEXTS = 2
SEED = 0
# Closed-class English words (articles, pronouns, prepositions, conjunctions, auxiliaries, particles):
# a fixed list, not counted from the texts, so "open-class words kept" favours no frequency ranking.
FUNCTION_WORDS = frozenset("""
a an the this that these those there here it its it's itself they them their theirs themselves he him his
she her hers i me my mine we us our ours you your yours one's who whom whose which what whatever whichever
of in on at by for with from to into onto upon about above below over under between among through during
against across along around behind beyond within without toward towards via per as like than so such
and or but nor if then else when while where whether because although though unless until since
is are was were be been being am do does did done doing has have had having can could may might must
shall should will would not no yes also just only very too quite rather again ever even still yet
all any each every some most more less much many few other another both either neither such own same
how why whenever wherever however thus hence therefore otherwise instead up down out off away back
""".split())
FALLBACK_PROSE = ("The operator restarted the controller after the rollout stalled, and the replicas "
                  "came back on the second node without further changes to the configuration.\n")


@dataclass
class EvalText:
    source: str
    name: str
    text: str
    answers: set[str] = field(default_factory=set)


# ------------------------------------------------------------------------------- held-out text
def message_texts(message: dict) -> Iterator[tuple[str, str]]:
    """(kind, text) pairs of one message: kind is tool, user or assistant."""
    role, content = message.get("role"), message.get("content")
    parts = [content] if isinstance(content, str) else content if isinstance(content, list) else []
    for part in parts:
        kind = "tool" if role == "tool" else str(role)
        if isinstance(part, str):
            yield kind, part
        elif isinstance(part, dict) and part.get("type") == "tool_result":
            inner = part.get("content")
            yield "tool", inner if isinstance(inner, str) else "\n".join(
                b.get("text", "") for b in inner or [] if isinstance(b, dict) and b.get("type") == "text")
        elif isinstance(part, dict) and part.get("type") == "text" and isinstance(part.get("text"), str):
            yield kind, part["text"]


def corpus_texts(path: Path) -> list[EvalText]:
    """Prose-bearing tool outputs and long user/assistant prose, deduplicated, with their probes."""
    if not path.exists():
        return []
    found: dict[str, EvalText] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        answers = {p["a"] for p in row.get("probes", []) if p.get("a")}
        for message in row["body"].get("messages", []):
            for kind, text in message_texts(message):
                words = len(split_prose(text).words)
                if kind == "tool" and words >= 20:  # any share: split_prose finds little prose in tool output
                    source = "corpus tool output"
                elif kind in ("user", "assistant") and words >= 40 and prose_share(text) >= 0.5:
                    source = "corpus user/assistant prose"
                else:
                    continue
                item = found.setdefault(text, EvalText(source, row["id"], text))
                item.answers |= {a for a in answers if a in text}
    return list(found.values())


def render_man(page: Path) -> str:
    env = dict(os.environ, MANWIDTH="90", LC_ALL="C.UTF-8", MAN_KEEP_FORMATTING="")
    try:
        done = subprocess.run(["man", "--nh", "--nj", "-P", "cat", "-l", str(page)], env=env,
                              capture_output=True, text=True, timeout=20, errors="replace")
    except (OSError, subprocess.SubprocessError):
        return ""
    text = re.sub(r".\x08", "", done.stdout)  # overstrike bold/underline, should man emit any
    text = re.sub(r"(?m)^ {1,%d}" % MAN_INDENT, "", text)  # man's body indent: its paragraphs as plain text
    return text[:MAN_MAX_CHARS].rsplit("\n", 1)[0] if len(text) > MAN_MAX_CHARS else text


def man_texts(count: int) -> list[EvalText]:
    """``count`` man pages with prose, spread over sections 1, 8 and 5 in a fixed hashed order."""
    out, seen = [], set()
    for page in man_page_files(MAN_DIRS):
        if len(out) >= count:
            break
        text = render_man(page)
        key = hashlib.sha1(text.encode()).hexdigest()
        if key in seen or len(split_prose(text).words) < 40 or prose_share(text) < 0.3:
            continue
        seen.add(key)
        out.append(EvalText("man pages", page.name.split(".")[0], text))
    return out


def sample(texts: list[EvalText], limit: int) -> list[EvalText]:
    """At most ``limit`` texts per source, in a fixed hashed order (all of them when limit is 0)."""
    by_source: dict[str, list[EvalText]] = {}
    for t in sorted(texts, key=lambda t: hashlib.sha1(t.text.encode()).hexdigest()):
        by_source.setdefault(t.source, []).append(t)
    return [t for group in by_source.values() for t in (group[:limit] if limit else group)]


# ------------------------------------------------------------------------------------- quality
def core(word: str) -> str:
    return word.strip(EDGE).lower()


class _MemoModel:
    """The model with scores remembered per chunk: several keep ratios, one inference per chunk."""

    def __init__(self, model: ScoringModel) -> None:
        self.model = model
        self.memo: dict[tuple[int, ...], object] = {}

    def __getattr__(self, name: str):  # tokenizer, max_tokens, info, time_chunk, ...: the model's
        return getattr(self.model, name)

    def scores(self, chunks: list[list[int]]) -> list:
        todo = [c for c in chunks if tuple(c) not in self.memo]
        if todo:
            for chunk, result in zip(todo, self.model.scores(todo)):
                self.memo[tuple(chunk)] = result
        return [self.memo[tuple(c)] for c in chunks]


class _ObservedKompress(Kompress):
    """Kompress as shipped; it only remembers which words its last call kept."""

    last_kept: set[int] | None = None

    def _select(self, prose: ProseText, scores: list[float | None]) -> set[int]:
        self.last_kept = super()._select(prose, scores)
        return self.last_kept


def budget_words(prose: ProseText, ratio: float) -> int:
    """Words Kompress keeps at ``ratio`` (forced ones count towards it), as ``Kompress._select``."""
    forced = len(prose.words) - len(prose.candidates)
    return forced + min(len(prose.candidates), max(0, math.ceil(ratio * len(prose.words)) - forced))


def choose(method: str, prose: ProseText, ratio: float, counts: Counter, name: str,
           kompress: _ObservedKompress, text: str) -> tuple[set[int], str, list[str]]:
    """Indexes of the prose words kept by ``method``, the text it makes, and anything odd."""
    budget, notes = budget_words(prose, ratio), []
    forced = {i for i, w in enumerate(prose.words) if w.keep}
    if method == "model":
        kompress.last_kept, spent = None, Budget(deadline=time.monotonic() + 3600)
        out = kompress.compress_within(text, spent)
        missed = {k: v for k, v in spent.events.items() if k not in ("kompress_chunks", "kompress_compressed")}
        kept = forced | (set(range(len(prose.words))) if kompress.last_kept is None else kompress.last_kept)
        if out is not None and out != prose.join(kept):
            notes.append(f"{name}: output differs from join(kept)")
        if len(kept) != budget:
            notes.append(f"{name}: the model kept {len(kept)} words, the baselines {budget}")
        notes += [f"{name}: {k}" for k, v in missed.items() if k != "kompress_unchanged" and v]
        return kept, out if out is not None else text, notes
    if method == "frequency-only":
        bare = ProseText(prose.lines, [Word(w.text, w.line, False) for w in prose.words], prose.prose_lines)
        kept = set(sorted(range(len(prose.words)), key=lambda i: rarest(prose, counts, i))[:budget])
        return kept, bare.join(kept), notes
    candidates = prose.candidates
    if method == "rule-only":
        candidates.sort(key=lambda i: rarest(prose, counts, i))
    else:
        random.Random(f"{SEED}:{name}:{ratio}").shuffle(candidates)
    kept = forced | set(candidates[:budget - len(forced)])
    return kept, prose.join(kept), notes


def rarest(prose: ProseText, counts: Counter, i: int) -> tuple[float, int]:
    """Sort key: rarest first (bare punctuation last), then in text order."""
    word = core(prose.words[i].text)
    return (counts[word] if word else math.inf, i)


def word_tags(prose: ProseText, doc_freq: Counter) -> list[set[str]]:
    """Per prose word, why the evaluation deems it important: cap, digit, rare; and open (class)."""
    tags = []
    for i, word in enumerate(prose.words):
        bare, low = word.text.strip(EDGE), core(word.text)
        previous = prose.words[i - 1] if i else None
        starts = (previous is None or previous.line < word.line - 1  # a non-prose line between: a new paragraph
                  or previous.text.rstrip("\"')]*").endswith((".", "!", "?", ":"))
                  or not any(c.isalnum() for c in previous.text))   # after a bullet
        mine = set()
        if bare[:1].isupper() and len(bare) > 1 and not starts:
            mine.add("cap")
        if any(c.isdigit() for c in bare):
            mine.add("digit")
        if low.isalpha() and len(low) >= 4 and doc_freq[low] <= RARE_MAX_TEXTS:
            mine.add("rare")
        if low.replace("-", "").replace("'", "").isalpha() and low not in FUNCTION_WORDS:
            mine.add("open")
        tags.append(mine)
    return tags


def new_tally() -> dict[str, int]:
    keys = ("texts", "words", "kept", "candidates", "candidates_kept", "must", "must_kept", "content",
            "content_kept", "cap", "cap_kept", "digit", "digit_kept", "rare", "rare_kept", "open", "open_kept",
            "probes",
            "probes_kept", "at_risk", "at_risk_kept", "tokens_before", "tokens_after")
    return dict.fromkeys(keys, 0)


def retained(t: EvalText, prose: ProseText, kept: set[int], out: str, tags: list[set[str]]
             ) -> dict[str, list[bool]]:
    """Per measure, whether each of its items survived, in a fixed order (so methods pair up)."""
    items: dict[str, list[bool]] = {key: [] for key in ("candidates", "must", "content", "cap", "digit", "rare",
                                                         "open", "probes", "at_risk")}
    candidates = set(prose.candidates)
    for i, word in enumerate(prose.words):
        content = {"content"} if tags[i] & {"cap", "digit", "rare"} else set()
        marks = tags[i] | ({"must"} if must_keep(word.text) else set()) | content
        for mark in marks | ({"candidates"} if i in candidates else set()):
            items[mark].append(i in kept)
    prose_part = "\n".join(prose.lines[n] for n in sorted(prose.prose_lines))
    other = "\n".join(line for n, line in enumerate(prose.lines) if n not in prose.prose_lines)
    for answer in sorted(t.answers):
        items["probes"].append(answer in out)
        if answer in prose_part and answer not in other:
            items["at_risk"].append(answer in out)
    return items


def tally_text(tally: dict, t: EvalText, prose: ProseText, kept: set[int], out: str,
               items: dict[str, list[bool]], counter: TokenCounter) -> None:
    tally["texts"] += 1
    tally["words"] += len(prose.words)
    tally["kept"] += len(kept)
    for key, flags in items.items():
        tally[key] += len(flags)
        tally[key + "_kept"] += sum(flags)
    tally["tokens_before"] += counter.count(t.text)
    tally["tokens_after"] += counter.count(out)


def tally_pairs(pairs: Counter, model: dict[str, list[bool]], baseline: dict[str, list[bool]]) -> None:
    """Items only the model kept (key+) and only the baseline kept (key-): McNemar's discordant pairs."""
    for key, flags in model.items():
        for a, b in zip(flags, baseline[key]):
            if a != b:
                pairs[key + ("+" if a else "-")] += 1


def quality(texts: list[EvalText], ratios: list[float], kompress_for, counter: TokenCounter
            ) -> tuple[dict, dict, list[str]]:
    """Tallies by keep ratio, source and method (plus an "all" source), model/rule-only pairs, oddities."""
    counts: dict[str, Counter] = {}
    doc_freq: dict[str, Counter] = {}
    splits = [split_prose(t.text) for t in texts]
    for t, prose in zip(texts, splits):
        cores = [core(w.text) for w in prose.words]
        counts.setdefault(t.source, Counter()).update(cores)
        doc_freq.setdefault(t.source, Counter()).update(set(cores))
    results: dict = {}
    pairs: dict = {}
    notes: list[str] = []
    order = sorted({t.source for t in texts}) + ["all"]
    for ratio in ratios:
        kompress = kompress_for(ratio)
        by_source = results[ratio] = {s: {m: new_tally() for m in METHODS} for s in order}
        paired = pairs[ratio] = {s: Counter() for s in order}
        for t, prose in zip(texts, splits):
            tags = word_tags(prose, doc_freq[t.source])
            items = {}
            for method in METHODS:
                kept, out, odd = choose(method, prose, ratio, counts[t.source], t.name, kompress, t.text)
                notes += odd
                items[method] = retained(t, prose, kept, out, tags)
                for source in (t.source, "all"):
                    tally_text(by_source[source][method], t, prose, kept, out, items[method], counter)
            for source in (t.source, "all"):
                tally_pairs(paired[source], items["model"], items["rule-only"])
    return results, pairs, notes


# --------------------------------------------------------------------------------------- speed
def valid_ids(tokenizer) -> list[int]:
    """Token ids of real vocabulary entries: no special, added or [unused] tokens."""
    special = set(tokenizer.get_added_tokens_decoder())
    vocab = tokenizer.get_vocab(with_added_tokens=False)
    return sorted(i for tok, i in vocab.items()
                  if i not in special and not (tok.startswith(("[", "<")) and tok.endswith(("]", ">"))))


def time_batches(model: ScoringModel, batches: list[int], repeats: int) -> list[dict]:
    import numpy as np
    rng, ids = np.random.default_rng(SEED), np.array(valid_ids(model.tokenizer))
    rows = []
    for batch in batches:
        chunks = [rng.choice(ids, model.max_tokens).tolist() for _ in range(batch)]
        model.scores(chunks)  # warm-up: first run of a shape allocates
        times = []
        for _ in range(max(2, min(repeats, 64 // batch))):  # big batches: fewer runs, each is long
            started = time.perf_counter()
            model.scores(chunks)
            times.append(time.perf_counter() - started)
        ms = 1000 * statistics.median(times)
        rows.append({"batch": batch, "ms_per_call": round(ms, 2), "ms_per_chunk": round(ms / batch, 2),
                     "chunks_per_s": round(1000 * batch / ms, 1), "repeats": len(times),
                     "tokens_per_chunk": model.max_tokens})
    return rows


def speed(args, settings: KompressSettings, provider: str) -> list[dict]:
    """Rows per (provider, threads, batch); CPU as well when the asked device runs on CUDA."""
    runs, out = [(settings.device, t) for t in args.threads], []
    if provider == "CUDAExecutionProvider":
        runs += [("cpu", t) for t in args.threads]
    for device, threads in runs:
        model = load_model(KompressSettings(model_dir=settings.model_dir, device=device), threads=threads)
        print(f"  speed: {model.info.provider} threads={threads}", file=sys.stderr)
        for row in time_batches(model, args.batches, args.repeats):
            out.append({"provider": model.info.provider, "threads": threads, **row})
    return out


def prose_of(texts: list[EvalText], counter: TokenCounter, tokens: int) -> tuple[str, int, str]:
    """The held-out texts joined and repeated to about ``tokens`` tokens, its count, what it is."""
    texts = [t for t in texts if looks_like_prose(t.text)]  # the blocks Kompress takes in production
    parts = [t.text for t in texts] or [FALLBACK_PROSE * 20]
    what = (f"the {len(texts)} held-out texts above that `looks_like_prose` accepts" if texts
            else "a built-in paragraph (no held-out text here)")
    pieces, total = [], 0
    while total < tokens:
        for part in parts:
            pieces.append(part)
            total += counter.count(part)
            if total >= tokens:
                break
    text = "\n\n".join(pieces)
    return text, counter.count(text), what


def end_to_end(args, settings: KompressSettings, texts: list[EvalText], counter: TokenCounter) -> dict:
    kompress, status = load_kompress(settings, threads=max(args.threads))
    if kompress is None:
        return {"error": f"{status.reason}: {status.detail}"}
    text, tokens, what = prose_of(texts, counter, args.e2e_tokens)
    kompress.compress(text[:20_000])  # warm-up
    budget = Budget(deadline=time.monotonic() + 3600)
    started = time.perf_counter()
    out = kompress.compress_within(text, budget)
    seconds = time.perf_counter() - started
    chunks = budget.events.get("kompress_chunks", 0)
    return {"tokens": tokens, "text": what, "prose_share": round(prose_share(text), 3), "chunks": chunks,
            "seconds": round(seconds, 3), "chunks_per_s": round(chunks / seconds, 1), "threads": max(args.threads),
            "max_batch": kompress.max_batch, "provider": status.provider,
            "projected_s_100k": round(seconds * 100_000 / tokens, 3), "events": budget.events,
            "tokens_after": counter.count(out) if out is not None else tokens}


# -------------------------------------------------------------------------------------- memory
def rss_kib(field_name: str = "VmRSS") -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field_name + ":"):
            return int(line.split()[1])
    return 0


def memory_child(args) -> None:
    """In a fresh process: RSS after imports, after loading, after ``--calls`` inference calls."""
    import numpy as np
    started = rss_kib()
    settings = KompressSettings(model_dir=args.model_dir, device=args.device, cpu_arena=args.memory_child == "on")
    model = load_model(settings, threads=max(args.threads))
    loaded, rng, ids = rss_kib(), random.Random(SEED), np.array(valid_ids(model.tokenizer))
    nprng, samples, t0 = np.random.default_rng(SEED), [], time.perf_counter()
    specials = len(model.prefix) + len(model.suffix)
    for call in range(1, args.calls + 1):
        batch, seq = rng.randint(1, 16), rng.randint(16, 512)
        model.scores([nprng.choice(ids, min(model.max_tokens, seq - specials)).tolist() for _ in range(batch)])
        if call % max(1, args.calls // 4) == 0:
            samples.append(rss_kib())
    print(json.dumps({"cpu_arena": settings.cpu_arena, "provider": model.info.provider, "rss_start_kib": started,
                      "rss_loaded_kib": loaded, "rss_after_kib": rss_kib(), "rss_samples_kib": samples,
                      "hwm_kib": rss_kib("VmHWM"), "calls": args.calls,
                      "seconds": round(time.perf_counter() - t0, 1)}))


def memory(args) -> list[dict]:
    """Both arena settings at once, each in its own fresh process with one intra-op thread: RSS is
    per process, so running them side by side changes only how long they take."""
    children = {}
    for arena in ("off", "on"):
        command = [sys.executable, str(Path(__file__).resolve()), "--memory-child", arena, "--calls", str(args.calls),
                   "--device", args.device, "--threads", "1"]
        command += ["--model-dir", args.model_dir] if args.model_dir else []
        children[arena] = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    print(f"  memory: cpu_arena off and on, {args.calls} calls each, two fresh processes", file=sys.stderr)
    rows = []
    for arena, child in children.items():
        out, err = child.communicate(timeout=1200)
        lines = [line for line in out.splitlines() if line.startswith("{")]
        rows.append(json.loads(lines[-1]) if child.returncode == 0 and lines
                    else {"cpu_arena": arena == "on", "error": (err or out)[-500:]})
    return rows


# -------------------------------------------------------------------------------------- report
COMPARED = (("probe answers", "probes"), ("probe answers at risk", "at_risk"), ("must-keep words", "must"),
            ("content words", "content"), ("capitalised words", "cap"), ("words with a digit", "digit"),
            ("rare words", "rare"), ("open-class words", "open"))


def share(tally: dict, key: str) -> float | None:
    return tally[key + "_kept"] / tally[key] if tally[key] else None


def pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def quality_table(by_source: dict) -> list[str]:
    lines = ["| source | method | texts | prose words | kept / prose words | kept / candidates | must-keep kept "
             "| content kept | capitalised | with digit | rare | open-class | probes kept | at risk kept "
             "| tokens before "
             "| after | saved |", "| --- | --- " + "| ---: " * 15 + "|"]
    for source, methods in by_source.items():
        for n, (method, t) in enumerate(methods.items()):
            lines.append(
                f"| {source if n == 0 else ''} | {method} | {t['texts']} | {t['words']:,} "
                f"| {pct(t['kept'] / max(1, t['words']))} "
                f"| {pct(share(t, 'candidates'))} | {pct(share(t, 'must'))} | {pct(share(t, 'content'))} "
                f"| {pct(share(t, 'cap'))} | {pct(share(t, 'digit'))} | {pct(share(t, 'rare'))} "
                f"| {pct(share(t, 'open'))} "
                f"| {t['probes_kept']}/{t['probes']} | {t['at_risk_kept']}/{t['at_risk']} | {t['tokens_before']:,} "
                f"| {t['tokens_after']:,} | {pct(1 - t['tokens_after'] / max(1, t['tokens_before']))} |")
    return lines


def compare(model: dict, baseline: dict, pairs: Counter) -> dict[str, list[str]]:
    """The measures where the model is better, worse, apart within noise, or equal (with figures).

    Noise: McNemar on the items only one of the two kept; a difference counts when the larger side
    exceeds the smaller by more than twice the square root of their sum (about 95%)."""
    verdict: dict[str, list[str]] = {"better": [], "worse": [], "noise": [], "equal": []}
    for label, key in COMPARED:
        a, b = share(model, key), share(baseline, key)
        if a is None or b is None:
            continue
        plus, minus = pairs[key + "+"], pairs[key + "-"]
        kind = ("equal" if plus == minus == 0 else "noise" if abs(plus - minus) <= 2 * math.sqrt(plus + minus)
                else "better" if plus > minus else "worse")
        how = {"worse": "worse", "noise": "within noise"}.get(kind, "")
        detail = f"{plus} kept only by the model, {minus} only by the baseline" if plus + minus else ""
        verdict[kind].append(f"{label} ({pct(a)} vs {pct(b)}" + "".join(f", {x}" for x in (how, detail) if x) + ")")
    return verdict


def verdicts(results: dict, pairs: dict) -> tuple[list[str], dict]:
    """Plain sentences: where the model beats the rule-only baseline and where it does not."""
    lines, decision = [], {}
    for ratio, by_source in results.items():
        for source, methods in by_source.items():
            v = compare(methods["model"], methods["rule-only"], pairs[ratio][source])
            text = f"- keep ratio {ratio}, {source}: "
            not_better = v["worse"] + v["noise"]
            text += (f"the model does NOT beat the rule-only baseline on {'; '.join(not_better)}. " if not_better
                     else "")
            text += f"Equal on {'; '.join(v['equal'])}. " if v["equal"] else ""
            text += (f"The model beats it on {'; '.join(v['better'])}." if v["better"]
                     else "The model beats it on nothing.")
            lines.append(text)
        m, r = by_source["all"]["model"], by_source["all"]["rule-only"]
        v = compare(m, r, pairs[ratio]["all"])
        probes, must = (share(m, "probes"), share(r, "probes")), (share(m, "must"), share(r, "must"))
        beats = {f.split(" (")[0] for f in v["better"]}
        bar = {"probe answers", "must-keep words"} <= beats
        lines.append(
            f"- **Issue 4's bar at keep ratio {ratio}** (the model keeps more probe answers *and* more must-keep "
            f"words than the rule-only baseline): **{'met' if bar else 'NOT met'}**: probe answers "
            f"{pct(probes[0])} vs {pct(probes[1])}, must-keep words {pct(must[0])} vs {pct(must[1])}"
            + (" (equal by construction: the same rules run in front of both)" if must[0] == must[1] else "") + ".")
        decision[ratio] = pick(v)
        lines.append(f"- Better default on these measures at keep ratio {ratio}, all sources: **{decision[ratio]}** "
                     f"(decided on {', '.join(DECIDING)}; content and rare words are left out because their rare-word "
                     "part is what the frequency ranking maximises by construction).")
    return lines, decision


DECIDING = ("probe answers", "probe answers at risk", "must-keep words", "open-class words")


def pick(v: dict[str, list[str]]) -> str:
    """model when it is better on a deciding measure and worse on none; rule-only the other way round."""
    better, worse = ({f.split(" (")[0] for f in v[k]} & set(DECIDING) for k in ("better", "worse"))
    if better and not worse:
        return "model"
    if worse and not better:
        return "rule-only baseline"
    return "neither clearly (no deciding measure apart beyond noise)" if not (better or worse) else "mixed"


def speed_lines(rows: list[dict]) -> list[str]:
    lines = ["| provider | intra-op threads | batch | ms per call | ms per chunk | chunks/s |",
             "| --- | ---: | ---: | ---: | ---: | ---: |"]
    lines += [f"| {r['provider']} | {r['threads']} | {r['batch']} | {r['ms_per_call']:.1f} | {r['ms_per_chunk']:.1f} "
              f"| {r['chunks_per_s']:.1f} |" for r in rows]
    lines.append("")
    best_by: dict[tuple, dict] = {}
    for key in dict.fromkeys((r["provider"], r["threads"]) for r in rows):
        group = [r for r in rows if (r["provider"], r["threads"]) == key]
        one, best = next((r for r in group if r["batch"] == 1), group[0]), min(group, key=lambda r: r["ms_per_chunk"])
        best_by[key] = best
        lines.append(f"- {key[0]}, {key[1]} thread(s): batch 1 {one['ms_per_chunk']:.1f} ms per chunk; best batch "
                     f"{best['batch']} at {best['ms_per_chunk']:.1f} ms per chunk "
                     f"({best['chunks_per_s']:.1f} chunks/s).")
    cpu2 = best_by.get(("CPUExecutionProvider", 2))
    cpu2_one = next((r for r in rows if r["provider"] == "CPUExecutionProvider" and r["threads"] == 2
                     and r["batch"] == 1), None)
    if cpu2_one:
        ok = cpu2_one["ms_per_chunk"] <= 100
        lines.append("- Target, CPU at most 100 ms per chunk at batch 1 on 2 threads: "
                     f"{cpu2_one['ms_per_chunk']:.1f} ms: "
                     f"**{'met' if ok else 'NOT met'}**.")
    gpu = [b for k, b in best_by.items() if k[0] == "CUDAExecutionProvider"]
    if gpu and cpu2:
        ratio = max(b["chunks_per_s"] for b in gpu) / cpu2["chunks_per_s"]
        lines.append("- Target, CUDA at least 20x the CPU (2 threads) throughput at the best batch size: "
                     f"{ratio:.1f}x: "
                     f"**{'met' if ratio >= 20 else 'NOT met'}**.")
    return lines


def e2e_lines(e: dict) -> list[str]:
    if "error" in e:
        return [f"End to end: FAILED, the model did not load: {e['error']}"]
    missed = {k: v for k, v in e["events"].items() if k not in ("kompress_chunks", "kompress_compressed")}
    lines = [f"`Kompress.compress_within` on {e['tokens']:,} tokens ({ENCODING_NAME}) of {e['text']}, joined into one "
             f"text ({e['prose_share']:.0%} of its words in prose lines): {e['chunks']} chunks in "
             f"{e['seconds']:.2f} s = **{e['chunks_per_s']:.1f} chunks/s** on "
             f"{e['provider']} ({e['threads']} intra-op threads, micro-batches of up to {e['max_batch']}); "
             f"projected for a 100k-token request: **{e['projected_s_100k']:.2f} s**; "
             f"{e['tokens']:,} -> {e['tokens_after']:,} tokens."
             + (f" Not everything was scored: {missed}." if missed else "")]
    if e["provider"] == "CUDAExecutionProvider":
        ok = e["projected_s_100k"] <= 0.1
        lines.append("- Target, a 100k-token request's Kompress work within 100 ms on GPU: "
                     f"**{'met' if ok else 'NOT met'}**.")
    return lines


def memory_lines(rows: list[dict]) -> list[str]:
    mib = lambda kib: f"{kib / 1024:.1f}"  # noqa: E731
    lines = ["| cpu_arena | provider | RSS MiB at start (before onnxruntime) | after load | after calls "
             "| growth after load | samples during the calls | peak (VmHWM) | seconds |",
             "| --- | --- " + "| ---: " * 7 + "|"]
    for r in rows:
        if "error" in r:
            lines.append(f"| {'on' if r['cpu_arena'] else 'off'} | FAILED: {r['error'][-200:]!r} |" + " |" * 7)
            continue
        lines.append(f"| {'on' if r['cpu_arena'] else 'off'} | {r['provider']} | {mib(r['rss_start_kib'])} "
                     f"| {mib(r['rss_loaded_kib'])} | {mib(r['rss_after_kib'])} | "
                     f"{(r['rss_after_kib'] - r['rss_loaded_kib']) / 1024:+.1f} | "
                     f"{', '.join(mib(s) for s in r['rss_samples_kib'])} | {mib(r['hwm_kib'])} | {r['seconds']} |")
    return lines


def machine_facts(device_provider: str) -> dict:
    from importlib.metadata import PackageNotFoundError, version

    import onnxruntime
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor()) if Path("/proc/cpuinfo").exists() else ""
    dist = next((d for d in ("onnxruntime-gpu", "onnxruntime") if _has_dist(d, version, PackageNotFoundError)), "?")
    facts = {"cpu": cpu, "cpus": os.cpu_count(), "usable_cpus": len(os.sched_getaffinity(0)),
             "load_average": os.getloadavg()[0], "python": platform.python_version(),
             "onnxruntime": f"{dist} {onnxruntime.__version__}", "provider": device_provider,
             "commit": subprocess.run(["git", "log", "-1", "--format=%h"], cwd=ROOT, capture_output=True,
                                      text=True).stdout.strip()}
    if device_provider == "CUDAExecutionProvider":
        smi = subprocess.run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"],
                             capture_output=True, text=True)
        facts["gpu"] = smi.stdout.strip().splitlines()[0] if smi.returncode == 0 and smi.stdout.strip() else "?"
    return facts


def _has_dist(name, version, missing) -> bool:
    try:
        version(name)
        return True
    except missing:
        return False


def model_facts(model: ScoringModel) -> dict:
    path = model.info.path
    card = path.parent / "model.json"
    name = json.loads(card.read_text()).get("name", "") if card.exists() else ""
    return {"name": model.info.name, "card": name, "path": str(path), "layout": model.info.layout,
            "provider": model.info.provider, "mb": round(path.stat().st_size / 1e6, 1),
            "sha256": hashlib.sha256(path.read_bytes()).hexdigest()[:16]}


def report(args, facts: dict, model: dict, texts: list[EvalText], parts: dict) -> str:
    command = "python scripts/bench_kompress.py " + shlex.join(sys.argv[1:])
    machine = (f"{facts['usable_cpus']} usable CPUs of {facts['cpus']} ({facts['cpu']}), Python {facts['python']}, "
               f"{facts['onnxruntime']}, provider {facts['provider']}"
               + (f" on {facts['gpu']}" if "gpu" in facts else "")
               + f", load average {facts['load_average']:.2f} at the start and "
               f"{facts['load_average_end']:.2f} at the end"
               " (2 means both cores busy)"
               f", commit `{facts['commit']}`")
    out = [f"Measured by `{command.strip()}` on {machine}. Model: {model['name']}"
           + (f" ({model['card']})" if model["card"] else "")
           + f", `{Path(model['path']).name}` {model['mb']} MB, sha256 {model['sha256']}..., "
           f"layout {model['layout']}.", ""]
    if "quality" in parts:
        sources = Counter(t.source for t in texts)
        out += [f"Held-out text: {', '.join(f'{n} {s}' for s, n in sources.items()) or 'none found'}. Corpus: "
                f"`../shared/corpus/corpus.jsonl`, read in place; tool outputs with at least 20 words in prose lines "
                f"(`split_prose` finds little prose in tool output), user/assistant messages with at least 40, "
                f"half their words or more. Man pages: "
                f"`man --nh --nj -P cat` at 90 columns with man's {MAN_INDENT}-column body indent removed (so its "
                f"paragraphs read as plain text), first {MAN_MAX_CHARS:,} characters, from {', '.join(MAN_DIRS)} "
                f"in a fixed hashed order; `scripts/train_kompress.py` reads dist-info METADATA, stdlib docstrings and "
                f"/usr/share/doc, never man pages (a page may still paraphrase a README it read).", "",
                "Methods keep the same number of words per text (the words `split_prose` forces, must-keep words, "
                "names and bullets, count towards it, as in `Kompress`): *model* is `Kompress.compress_within` as "
                "shipped; *rule-only* keeps "
                "the same forced words and ranks the other candidates rarest first by their count over all prose "
                "words of the texts of the same source (no fixed stopword list: the most frequent words, which are "
                "the stopwords and fillers, are dropped first); *frequency-only* ranks every prose word that way, no "
                "rules; *random* keeps the forced words and a seeded shuffle of the rest. Content words (a "
                "teacher-free proxy): capitalised words not at a sentence start, words with a digit, and words of 4+ "
                f"letters found in at most {RARE_MAX_TEXTS} texts of their source. Capitalised words inside a "
                "sentence and words with a digit are forced by `split_prose`/`must_keep`, so every method with the "
                "rules keeps all of them; the rare-word part, which decides the content column, favours the "
                "frequency rankings by construction. *Open-class*: words not in a fixed list of English function "
                "words (in the script), a measure no ranking here is built on. *Noise*: McNemar on the items only "
                "one of model and rule-only kept. Probes: a row's answer counts for a text that contains it and "
                "is kept when the compressed text still contains it; *at risk*: the answer is only in prose lines. "
                f"Tokens: {ENCODING_NAME} (`extproc.tokens.TokenCounter`; o200k_base is not available offline).", ""]
        for ratio, by_source in parts["quality"].items():
            out += [f"Keep ratio {ratio}:", "", *quality_table(by_source), ""]
        out += parts["verdicts"] + [""]
    if "speed" in parts:
        out += [f"Speed per chunk of {parts['speed'][0]['tokens_per_chunk']} content tokens (512 positions with "
                f"[CLS]/[SEP]), random valid token ids, `ScoringModel.scores`, median of {args.repeats} runs "
                "(2-4 at batch 16 and 32) after a warm-up run:", "", *speed_lines(parts["speed"]), ""]
    if "e2e" in parts:
        out += [*e2e_lines(parts["e2e"]), ""]
    if "memory" in parts:
        out += [f"Memory: a fresh process per row (one intra-op thread; the two rows run side by side) loads the "
                f"model and runs {args.calls} `scores` calls of random shapes (batch 1-16, 16-512 positions); RSS "
                "from /proc/self/status, sampled after each quarter of the calls"
                + ("; host memory only, GPU memory is not measured" if facts["provider"] == "CUDAExecutionProvider"
                   else "") + ".", "",
                *memory_lines(parts["memory"]), ""]
    if parts.get("notes"):
        out += ["Odd things seen: " + "; ".join(parts["notes"][:20]) + "."]
    return "\n".join(out).rstrip() + "\n"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-dir", default="", help="a model directory (default: the embedded model)")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    parser.add_argument("--keep-ratio", type=float, nargs="+", default=[0.6])
    parser.add_argument("--quick", action="store_true", help="small sample, few repeats: a smoke run")
    parser.add_argument("--write", action="store_true", help="replace the kompress section of docs/benchmarks.md")
    parser.add_argument("--json", type=Path, help="write the results as JSON here")
    parser.add_argument("--corpus", type=Path, default=CORPUS)
    parser.add_argument("--man-pages", type=int, help="man pages evaluated (default 60, quick 6)")
    parser.add_argument("--threads", default="1,2", help="intra-op thread counts timed, comma-separated")
    parser.add_argument("--parts", default="quality,speed,e2e,memory,prose")
    parser.add_argument("--memory-child", choices=("on", "off"), help=argparse.SUPPRESS)
    parser.add_argument("--calls", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.threads = [int(t) for t in args.threads.split(",")]
    args.parts = args.parts.split(",")
    args.calls = args.calls or (20 if args.quick else 200)
    args.man_pages = args.man_pages if args.man_pages is not None else (6 if args.quick else 60)
    args.per_source = 12 if args.quick else 0
    args.batches = [1, 4] if args.quick else [1, 2, 4, 8, 16, 32]
    args.repeats = 2 if args.quick else 5
    args.e2e_tokens = 10_000 if args.quick else 100_000
    return args


def main() -> None:
    args = parse_args()
    if args.memory_child:
        return memory_child(args)
    settings = KompressSettings(model_dir=args.model_dir, device=args.device, keep_ratio=args.keep_ratio[0],
                                queue_chunks=100_000)  # a benchmark text is scored whole, not cut at the queue
    try:
        model = load_model(settings, threads=max(args.threads))
    except KompressUnavailable as exc:
        sys.exit(f"cannot load the model in {args.model_dir or EMBEDDED_DIR}: {exc.reason}: {exc.detail}")
    facts, info, counter, parts = machine_facts(model.info.provider), model_facts(model), TokenCounter(), {}
    texts = (sample(corpus_texts(args.corpus) + man_texts(args.man_pages), args.per_source)
             if {"quality", "e2e"} & set(args.parts) else [])
    print(f"{len(texts)} held-out texts; model {info['name']} on {info['provider']}", file=sys.stderr)
    if "speed" in args.parts:
        parts["speed"] = speed(args, settings, model.info.provider)
    if "quality" in args.parts:
        memo = _MemoModel(model)
        make = lambda ratio: _ObservedKompress(replace(settings, keep_ratio=ratio), memo, info["sha256"])  # noqa: E731
        started = time.perf_counter()
        parts["quality"], parts["pairs"], parts["notes"] = quality(texts, args.keep_ratio, make, counter)
        parts["verdicts"], parts["decision"] = verdicts(parts["quality"], parts["pairs"])
        print(f"  quality: {time.perf_counter() - started:.1f}s", file=sys.stderr)
    if "e2e" in args.parts:
        parts["e2e"] = end_to_end(args, settings, texts, counter)
    if "memory" in args.parts:
        parts["memory"] = memory(args)
    if "prose" in args.parts:
        # As a server on this machine runs it (workers=-1: a process per CPU), not --threads: the
        # deadline share depends on the intra-op threads, and 2 on a busy 2-CPU box is slower than 1.
        threads = cpu_share(Settings()).threads
        kompress, _ = load_kompress(replace(settings, queue_chunks=DEFAULT_KOMPRESS_QUEUE_CHUNKS), threads=threads)
        started = time.perf_counter()
        parts["prose"] = prose_part(kompress, counter, 6 if args.quick else 20, threads)
        print(f"  prose: {time.perf_counter() - started:.1f}s", file=sys.stderr)
    facts["load_average_end"] = os.getloadavg()[0]
    text = report(args, facts, info, texts, {k: v for k, v in parts.items() if k != "prose"})
    prose = ""
    if "prose" in parts:
        prose = "\n".join([text.split("\n", 1)[0], "", *prose_lines(parts["prose"], ENCODING_NAME)]) + "\n"
        print("\n" + prose)
    if set(args.parts) - {"prose"}:
        print("\n" + text)
    if args.json:
        args.json.write_text(json.dumps({"command": sys.argv, "machine": facts, "model": info, **{
            k: ({str(r): v for r, v in val.items()} if k in ("quality", "pairs", "decision") else val)
            for k, val in parts.items()}}, indent=1) + "\n")
    if args.write and set(args.parts) - {"prose"}:
        print(f"wrote {write_section('kompress', text).relative_to(ROOT)}")
    if args.write and prose:
        print(f"wrote {write_section('kompress-prose', prose).relative_to(ROOT)}")


if __name__ == "__main__":
    main()
