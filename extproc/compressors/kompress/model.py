"""Kompress models: find the ONNX file and tokenizer, open one session, score tokens.

``load_model`` is called once per compression process at start-up. It reads the embedded model
(``model/`` beside this file) or an operator's directory (``kompress.model_dir``), tries the
candidate ONNX files in order, tells the layout from the session's own inputs and outputs, runs
one tiny inference, and falls back to the next candidate when loading or that inference fails.
Layouts understood:

* Headroom Kompress v2: ``input_ids``, ``attention_mask`` -> ``final_scores`` [batch, seq], already
  a keep probability.
* LLMLingua-2 (and trimwire's embedded model, which uses it): ``input_ids``, ``attention_mask``
  (+ ``token_type_ids``) -> ``logits`` [batch, seq, 2]; keep probability = softmax, class 1.

The provider actually in use is read from the session after creation: onnxruntime-gpu lists
CUDA on machines without a GPU and quietly runs on CPU. Importing this module never fails;
``load_model`` raises ``KompressUnavailable`` with the reason instead.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ...config import KompressSettings
from ...errors import KompressUnavailable

__all__ = ["EMBEDDED_DIR", "CANDIDATE_FILES", "KompressUnavailable", "ScoringModel", "load_model"]

EMBEDDED_DIR = Path(__file__).parent / "model"
# In the order worth trying: Headroom's files (weight-only int8 loads on some builds and fails on
# the first run, hence the smoke inference), then LLMLingua-2 and plain exports.
CANDIDATE_FILES = (
    "onnx/kompress-int8-wo.onnx", "onnx/kompress-fp32.onnx", "onnx/kompress-int8.onnx",
    "onnx/model_quantized.onnx", "onnx/model.onnx", "model_quantized.onnx", "model.onnx",
)
TOKENIZER_FILES = ("tokenizer.json", "onnx/tokenizer.json")
MAX_POSITIONS = 512
_SMOKE_TEXT = "Kompress keeps the words that matter and drops the rest."


@dataclass(frozen=True)
class ModelInfo:
    name: str          # "embedded" or the file's path relative to model_dir
    path: Path
    layout: str        # final_scores | logits
    provider: str      # the execution provider the session really uses


class ScoringModel:
    """One onnxruntime session and its tokenizer; ``scores`` gives keep probabilities."""

    def __init__(self, session: Any, tokenizer: Any, info: ModelInfo) -> None:
        self.session = session
        self.tokenizer = tokenizer
        self.info = info
        inputs = {i.name for i in session.get_inputs()}
        self._token_types = "token_type_ids" in inputs
        self._output = session.get_outputs()[0].name if info.layout == "logits" else "final_scores"
        probe = tokenizer.encode("a", add_special_tokens=True)
        mask = probe.special_tokens_mask
        first = mask.index(0) if 0 in mask else len(mask)
        self.prefix = list(probe.ids[:first])       # [CLS] / <s>
        self.suffix = list(probe.ids[first + 1:])   # [SEP] / </s>
        pad = tokenizer.token_to_id("[PAD]")
        self.pad_id = pad if pad is not None else (tokenizer.token_to_id("<pad>") or 0)

    @property
    def max_tokens(self) -> int:
        """Content tokens per chunk, the special tokens left out."""
        return MAX_POSITIONS - len(self.prefix) - len(self.suffix)

    def scores(self, chunks: list[list[int]]) -> list[Any]:
        """Keep probability of each content token of each chunk (token ids without specials)."""
        import numpy as np

        rows = [self.prefix + chunk + self.suffix for chunk in chunks]
        width = max(len(row) for row in rows)
        ids = np.full((len(rows), width), self.pad_id, dtype=np.int64)
        mask = np.zeros((len(rows), width), dtype=np.int64)
        for i, row in enumerate(rows):
            ids[i, :len(row)] = row
            mask[i, :len(row)] = 1
        feeds = {"input_ids": ids, "attention_mask": mask}
        if self._token_types:
            feeds["token_type_ids"] = np.zeros_like(ids)
        out = self.session.run([self._output], feeds)[0]
        if self.info.layout == "logits":
            out = out.astype(np.float64)
            out = 1.0 / (1.0 + np.exp(out[..., 0] - out[..., 1]))  # softmax over two classes, class 1
        start = len(self.prefix)
        return [out[i, start:start + len(chunk)] for i, chunk in enumerate(chunks)]


    def batch_independent(self) -> bool:
        """Whether a chunk scores the same alone as beside a longer one in a batch.

        Not so for dynamically quantised int8 models (the embedded one): their activation scales
        are computed over the whole batch, padding included, so ~1.5% of word decisions would
        depend on which other request's chunks shared the call. Cache mode needs a block's bytes
        to depend on the block alone, so such a model is run one chunk per call.
        """
        import numpy as np

        short = self.tokenizer.encode(_SMOKE_TEXT, add_special_tokens=False).ids
        longer = (short * (self.max_tokens // max(1, len(short)) + 1))[:self.max_tokens]
        alone = self.scores([short])[0]
        beside = self.scores([short, longer])[0]
        return bool(np.allclose(alone, beside, rtol=0.0, atol=1e-6))

    def time_chunk(self) -> float:
        """Seconds one full chunk takes at batch 1 (the best of two runs)."""
        import time

        chunk = [self.prefix[0] if self.prefix else self.pad_id] * self.max_tokens
        best = float("inf")
        for _ in range(2):
            started = time.perf_counter()
            self.scores([chunk])
            best = min(best, time.perf_counter() - started)
        return best


def load_model(settings: KompressSettings, *, threads: int = 1) -> ScoringModel:
    """The first candidate model that loads and answers a smoke inference, or KompressUnavailable."""
    # Before onnxruntime starts: its telemetry looks up a Microsoft host and persists a device ID
    # (a warning on every read-only pod). An operator's own setting stands.
    os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
    try:
        import onnxruntime as ort
        from tokenizers import Tokenizer
    except ImportError as exc:
        raise KompressUnavailable("not_installed", f"kompress needs onnxruntime and tokenizers: {exc}") from None
    directory = Path(settings.model_dir) if settings.model_dir else EMBEDDED_DIR
    if not directory.is_dir():
        raise KompressUnavailable("missing", f"kompress.model_dir {directory} is not a directory")
    tokenizer_file = next((directory / f for f in TOKENIZER_FILES if (directory / f).is_file()), None)
    candidates = [directory / f for f in CANDIDATE_FILES if (directory / f).is_file()]
    if tokenizer_file is None or not candidates:
        missing = [] if tokenizer_file else ["tokenizer.json"]
        missing += [] if candidates else ["an ONNX model (" + ", ".join(CANDIDATE_FILES) + ")"]
        raise KompressUnavailable("missing", f"kompress model directory {directory} lacks " + " and ".join(missing))
    try:
        tokenizer = Tokenizer.from_file(str(tokenizer_file))
    except Exception as exc:  # a corrupt tokenizer.json
        raise KompressUnavailable("corrupt", f"{tokenizer_file}: cannot read tokenizer: {exc}") from None
    tokenizer.no_truncation()
    tokenizer.no_padding()
    ort.set_default_logger_severity(4)  # a missing CUDA library is reported by us, not as stderr noise
    failures = []
    for path in candidates:
        name = "embedded" if not settings.model_dir else str(path.relative_to(directory))
        try:
            model = _open(ort, path, tokenizer, name, settings, threads)
        except KompressUnavailable:
            raise
        except Exception as exc:  # this file does not load or run here: try the next one
            failures.append(f"{path.name}: {type(exc).__name__}: {str(exc)[:200]}")
            continue
        return model
    raise KompressUnavailable("corrupt", f"no model in {directory} loads and runs: " + "; ".join(failures))


def _open(ort: Any, path: Path, tokenizer: Any, name: str, settings: KompressSettings,
          threads: int) -> ScoringModel:
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.enable_cpu_mem_arena = settings.cpu_arena
    options.enable_mem_pattern = False  # shapes change with every batch: patterns only grow memory
    session = ort.InferenceSession(str(path), sess_options=options, providers=_providers(ort, settings.device))
    provider = session.get_providers()[0]
    if settings.device == "cuda" and provider != "CUDAExecutionProvider":
        raise KompressUnavailable("no_gpu", f"kompress.device is cuda but onnxruntime runs {path.name} on "
                                            f"{provider} (no usable GPU or onnxruntime-gpu)")
    model = ScoringModel(session, tokenizer, ModelInfo(name, path, _layout(session, path), provider))
    smoke = tokenizer.encode(_SMOKE_TEXT, add_special_tokens=False).ids
    scores = model.scores([smoke, smoke[:3]])
    if len(scores[0]) != len(smoke) or not all(0.0 <= float(s) <= 1.0 for s in scores[0]):
        raise ValueError("smoke inference gave scores outside [0, 1] or of the wrong length")
    return model


def _providers(ort: Any, device: str) -> list[str]:
    if device == "cpu":
        return ["CPUExecutionProvider"]
    has_cuda = "CUDAExecutionProvider" in ort.get_available_providers()
    if device == "cuda" and not has_cuda:
        raise KompressUnavailable("no_gpu", "kompress.device is cuda but this onnxruntime has no CUDA provider "
                                            "(the GPU install is onnxruntime-gpu)")
    if has_cuda:
        if hasattr(ort, "preload_dlls") and os.environ.get("TRIMWIRE_ORT_PRELOAD", "1") == "1":
            try:
                ort.preload_dlls()  # CUDA and cuDNN from the nvidia-* wheels, when installed
            except Exception:
                pass
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]
    return ["CPUExecutionProvider"]


def _layout(session: Any, path: Path) -> str:
    inputs = {i.name for i in session.get_inputs()}
    if not {"input_ids", "attention_mask"} <= inputs:
        raise ValueError(f"inputs {sorted(inputs)} lack input_ids and attention_mask")
    outputs = {o.name: o.shape for o in session.get_outputs()}
    if "final_scores" in outputs:
        return "final_scores"
    shape = outputs.get("logits") or next(iter(outputs.values()))
    if shape and shape[-1] == 2:
        return "logits"
    raise ValueError(f"outputs {sorted(outputs)} are neither final_scores nor logits [.., 2]")
