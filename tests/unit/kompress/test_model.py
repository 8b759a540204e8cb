"""The model loader: both upstream layouts, broken directories, and the provider really used."""

from __future__ import annotations

import shutil
from pathlib import Path

import onnxruntime as ort
import pytest

from extproc.compressors.kompress import ModelShelf, load_kompress
from extproc.compressors.kompress.model import KompressUnavailable, load_model
from extproc.config import KompressSettings
from tests.shelf import SHELF

from .models import write_model_dir

SCORES = {"keep": 0.9, "drop": 0.1}
HAS_GPU = "CUDAExecutionProvider" in ort.get_available_providers() and shutil.which("nvidia-smi") is not None


def settings(directory: Path, **changes) -> KompressSettings:
    return KompressSettings(model_dir=str(directory), **changes)


def word_scores(model, text: str) -> list[float]:
    ids = model.tokenizer.encode(text, add_special_tokens=False).ids
    return [round(float(s), 3) for s in model.scores([ids])[0]]


class TestLayouts:
    def test_headroom_final_scores(self, tmp_path):
        """kompress v2's layout: final_scores used as the keep probability."""
        write_model_dir(tmp_path, SCORES, file="onnx/kompress-fp32.onnx", layout="final_scores", token_types=False)
        model = load_model(settings(tmp_path, device="cpu"))
        assert model.info.layout == "final_scores" and model.info.name == "onnx/kompress-fp32.onnx"
        assert word_scores(model, "keep drop") == [0.9, 0.1]

    def test_llmlingua_logits_with_token_types(self, tmp_path):
        """LLMLingua-2's BERT layout: logits [.., 2] through softmax, token_type_ids fed as zeros."""
        write_model_dir(tmp_path, SCORES, file="onnx/model.onnx", layout="logits", token_types=True)
        model = load_model(settings(tmp_path, device="cpu"))
        assert model.info.layout == "logits"
        assert word_scores(model, "keep drop") == [0.9, 0.1]

    def test_logits_without_token_types(self, tmp_path):
        """XLM-R exports take no token_type_ids: none is fed."""
        write_model_dir(tmp_path, SCORES, file="model.onnx", layout="logits", token_types=False)
        assert word_scores(load_model(settings(tmp_path, device="cpu")), "keep") == [0.9]

    def test_batches_are_padded_per_row(self, tmp_path):
        """Rows of a batch have their own lengths; scores come back per row, padding cut off."""
        write_model_dir(tmp_path, SCORES)
        model = load_model(settings(tmp_path, device="cpu"))
        keep, drop = (model.tokenizer.token_to_id(w) for w in ("keep", "drop"))
        out = model.scores([[keep], [drop, drop, keep]])
        assert [len(row) for row in out] == [1, 3]
        assert [round(float(s), 3) for s in out[1]] == [0.1, 0.1, 0.9]


class TestBrokenDirectories:
    def test_missing_directory(self, tmp_path):
        """A model_dir that does not exist is named in the error."""
        with pytest.raises(KompressUnavailable, match=str(tmp_path / "nope")) as caught:
            load_model(settings(tmp_path / "nope"))
        assert caught.value.reason == "missing"

    def test_missing_tokenizer(self, tmp_path):
        """No tokenizer.json: the error says so (Headroom's repo ships none; ModernBERT's is needed)."""
        write_model_dir(tmp_path, SCORES)
        (tmp_path / "tokenizer.json").unlink()
        with pytest.raises(KompressUnavailable, match="lacks tokenizer.json") as caught:
            load_model(settings(tmp_path))
        assert caught.value.reason == "missing"

    def test_missing_onnx(self, tmp_path):
        """A tokenizer but no ONNX file: the candidates looked for are listed."""
        write_model_dir(tmp_path, SCORES)
        (tmp_path / "model.onnx").unlink()
        with pytest.raises(KompressUnavailable, match="kompress-int8-wo.onnx"):
            load_model(settings(tmp_path))

    def test_corrupt_candidate_falls_back_to_the_next(self, tmp_path):
        """A first candidate that does not load is skipped for the next one that does."""
        write_model_dir(tmp_path, SCORES, file="onnx/kompress-fp32.onnx", layout="final_scores")
        (tmp_path / "onnx" / "kompress-int8-wo.onnx").write_bytes(b"not an onnx file")
        model = load_model(settings(tmp_path, device="cpu"))
        assert model.info.name == "onnx/kompress-fp32.onnx"

    def test_every_candidate_corrupt(self, tmp_path):
        """Nothing loads: reason corrupt, and each file's failure in the detail."""
        write_model_dir(tmp_path, SCORES)
        (tmp_path / "model.onnx").write_bytes(b"\x00" * 64)
        with pytest.raises(KompressUnavailable, match="model.onnx: ") as caught:
            load_model(settings(tmp_path))
        assert caught.value.reason == "corrupt"

    def test_corrupt_tokenizer(self, tmp_path):
        """A tokenizer.json that is not one: reason corrupt, file named."""
        write_model_dir(tmp_path, SCORES)
        (tmp_path / "tokenizer.json").write_text("{broken")
        with pytest.raises(KompressUnavailable, match="tokenizer.json") as caught:
            load_model(settings(tmp_path))
        assert caught.value.reason == "corrupt"

    def test_wrong_outputs(self, tmp_path):
        """A model whose output is neither final_scores nor [.., 2] logits is refused."""
        import onnx
        from onnx import TensorProto, helper

        write_model_dir(tmp_path, SCORES)
        ids = helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["b", "s"])
        mask = helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["b", "s"])
        out = helper.make_tensor_value_info("hidden", TensorProto.INT64, ["b", "s"])
        graph = helper.make_graph([helper.make_node("Identity", ["input_ids"], ["hidden"])], "g", [ids, mask], [out])
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
        model.ir_version = 8
        onnx.save(model, str(tmp_path / "model.onnx"))
        with pytest.raises(KompressUnavailable, match="neither final_scores nor logits"):
            load_model(settings(tmp_path))

    def test_load_kompress_reports_instead_of_raising(self, tmp_path):
        """The server-facing loader gives a status with the reason; nothing raises."""
        compressor, status = load_kompress(settings(tmp_path / "nope"), threads=1, shelf=SHELF)
        assert compressor is None and not status.available and status.reason == "missing"
        compressor, status = load_kompress(KompressSettings(enabled=False), threads=1, shelf=SHELF)
        assert compressor is None and status.reason == "disabled"


class TestProviders:
    def test_cpu_forced(self, tmp_path):
        """device cpu: the session runs on the CPU provider, read back from the session."""
        write_model_dir(tmp_path, SCORES)
        assert load_model(settings(tmp_path, device="cpu")).info.provider == "CPUExecutionProvider"

    @pytest.mark.skipif(HAS_GPU, reason="this machine has a GPU")
    def test_auto_without_gpu_is_cpu(self, tmp_path):
        """device auto on a machine without a GPU: CPU, whatever the provider list claims."""
        write_model_dir(tmp_path, SCORES)
        assert load_model(settings(tmp_path, device="auto")).info.provider == "CPUExecutionProvider"

    @pytest.mark.skipif(HAS_GPU, reason="this machine has a GPU")
    def test_cuda_forced_without_gpu_is_unavailable(self, tmp_path):
        """device cuda with no usable GPU is an error with reason no_gpu, not a silent CPU run."""
        write_model_dir(tmp_path, SCORES)
        with pytest.raises(KompressUnavailable) as caught:
            load_model(settings(tmp_path, device="cuda"))
        assert caught.value.reason == "no_gpu"

    @pytest.mark.skipif(not HAS_GPU, reason="needs a GPU and onnxruntime-gpu")
    def test_cuda_on_a_gpu(self, tmp_path):
        """device cuda on a GPU machine: the CUDA provider really runs the model."""
        write_model_dir(tmp_path, SCORES)
        model = load_model(settings(tmp_path, device="cuda"))
        assert model.info.provider == "CUDAExecutionProvider"
        assert word_scores(model, "keep drop") == [0.9, 0.1]


class TestBatchIndependence:
    def test_a_lookup_model_is_batch_independent(self, tmp_path):
        """An fp32 model scores each row on its own: batching is allowed."""
        write_model_dir(tmp_path, SCORES)
        assert load_model(settings(tmp_path, device="cpu")).batch_independent()


class TestOneSessionPerProcess:
    def test_settled_threads_share_the_session(self):
        """Settings whose thread count was filled in (``cpus.CpuShare.settle``) get the session
        opened for the same count left to the CPUs: one model per shelf, not two."""
        import dataclasses

        from extproc.config import KompressSettings

        shelf = ModelShelf()
        left, _ = load_kompress(KompressSettings(device="cpu"), threads=1, shelf=shelf)
        settled, _ = load_kompress(dataclasses.replace(KompressSettings(device="cpu"), threads=1), threads=1,
                                   shelf=shelf)
        assert left is not None and settled is left

    def test_the_engines_of_one_shelf_share_a_model_and_others_do_not(self):
        """Engines built from one shelf (a process's) share the session; no module keeps one
        for engines built without it."""
        from extproc import Settings, build_engine

        shelf = ModelShelf()
        first, second = (build_engine(Settings(workers=0), shelf=shelf) for _ in range(2))
        alone = build_engine(Settings(workers=0), shelf=SHELF)
        prose = [compressor for compressor in first.pipeline.routes["text"] if compressor.name == "kompress"]
        again = [compressor for compressor in second.pipeline.routes["text"] if compressor.name == "kompress"]
        other = [compressor for compressor in alone.pipeline.routes["text"] if compressor.name == "kompress"]
        assert prose and prose == again and other and other[0] is not prose[0]
