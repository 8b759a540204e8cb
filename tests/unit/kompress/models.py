"""Tiny Kompress models made at test time: a real tokenizer.json and real ONNX graphs.

The real weights cannot be downloaded here, so the loader and the compressor are tested with
models whose scores are a lookup table per token: a word's score is chosen by the test. Both
upstream layouts are built: Headroom Kompress v2 (``final_scores`` [batch, seq]) and
LLMLingua-2 (``logits`` [batch, seq, 2], optionally with ``token_type_ids``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import onnx
from onnx import TensorProto, helper
from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]"]


def write_tokenizer(directory: Path, vocabulary: Sequence[str]) -> dict[str, int]:
    """A BERT-shaped WordPiece tokenizer.json over ``vocabulary``; returns token -> id."""
    vocab = {token: i for i, token in enumerate(SPECIALS + sorted(set(vocabulary) - set(SPECIALS)))}
    tokenizer = Tokenizer(models.WordPiece(vocab, unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.BertNormalizer(lowercase=True)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[("[CLS]", vocab["[CLS]"]), ("[SEP]", vocab["[SEP]"])])
    tokenizer.decoder = decoders.WordPiece()
    directory.mkdir(parents=True, exist_ok=True)
    tokenizer.save(str(directory / "tokenizer.json"))
    return vocab


def write_model(path: Path, vocab: Mapping[str, int], scores: Mapping[str, float], *,
                layout: str = "logits", token_types: bool = True, default: float = 0.5) -> Path:
    """An ONNX model giving each token the keep probability ``scores`` names (else ``default``)."""
    probs = [scores.get(token, default) for token, _ in sorted(vocab.items(), key=lambda kv: kv[1])]
    ids = helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "seq"])
    mask = helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["batch", "seq"])
    inputs = [ids, mask]
    if token_types:
        inputs.append(helper.make_tensor_value_info("token_type_ids", TensorProto.INT64, ["batch", "seq"]))
    if layout == "final_scores":
        table = helper.make_tensor("table", TensorProto.FLOAT, [len(probs)], probs)
        output = helper.make_tensor_value_info("final_scores", TensorProto.FLOAT, ["batch", "seq"])
        nodes = [helper.make_node("Gather", ["table", "input_ids"], ["final_scores"], axis=0)]
    else:  # logits whose softmax gives p: [0, log(p / (1 - p))]
        logit = [math.log(max(p, 1e-6) / max(1 - p, 1e-6)) for p in probs]
        table = helper.make_tensor("table", TensorProto.FLOAT, [len(probs), 2],
                                   [v for x in logit for v in (0.0, x)])
        output = helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", "seq", 2])
        nodes = [helper.make_node("Gather", ["table", "input_ids"], ["logits"], axis=0)]
    graph = helper.make_graph(nodes, "kompress-test", inputs, [output], initializer=[table])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
    return path


def write_model_dir(directory: Path, scores: Mapping[str, float], vocabulary: Sequence[str] = (), *,
                    file: str = "model.onnx", layout: str = "logits", token_types: bool = True,
                    default: float = 0.5) -> Path:
    """A model directory as an operator would pre-seed it: tokenizer.json plus one ONNX file."""
    vocab = write_tokenizer(directory, list(scores) + list(vocabulary))
    write_model(directory / file, vocab, scores, layout=layout, token_types=token_types, default=default)
    return directory
