"""mood.whisper_convert: CTranslate2 model.bin -> openai-whisper checkpoint, checked against both
libraries (layout, un-fused projections, identical encoder output, stock loader, same transcript)."""

from __future__ import annotations

import struct
import sys
from pathlib import Path

import numpy as np
import pytest

from mood.audio import load_wav, normalise
from mood.errors import EngineError
from mood.transcribe import default_model_dir, load_transcriber
from mood.whisper_convert import (
    _weights,
    convert_ct2_to_openai,
    ct2_to_openai_checkpoint,
    load_openai_model,
    read_ct2_model,
)
from tests.support.mood_corpus import MoodCorpusItem

TINY_EN_DIMS = {
    "n_mels": 80,
    "n_audio_ctx": 1500,
    "n_audio_state": 384,
    "n_audio_head": 6,
    "n_audio_layer": 4,
    "n_vocab": 51864,
    "n_text_ctx": 448,
    "n_text_state": 384,
    "n_text_head": 6,
    "n_text_layer": 4,
}
"""openai-whisper's published dimensions of tiny.en."""


@pytest.fixture(scope="module")
def ct2_variables() -> dict[str, np.ndarray]:
    spec, variables = read_ct2_model(default_model_dir() / "model.bin")
    assert spec == "WhisperSpec"
    return variables


@pytest.fixture(scope="module")
def checkpoint() -> dict:
    return ct2_to_openai_checkpoint(None)


@pytest.mark.slow
def test_model_bin_is_parsed_with_names_shapes_and_alias(ct2_variables: dict[str, np.ndarray]) -> None:
    """The bundled model.bin parses into float16 tensors with Whisper's names; the output projection
    alias resolves to the token embeddings."""
    emb = ct2_variables["decoder/embeddings/weight"]
    assert emb.shape == (51864, 384) and emb.dtype == np.float16
    assert ct2_variables["decoder/projection/weight"] is emb
    assert ct2_variables["encoder/conv1/weight"].shape == (384, 80, 3)
    assert ct2_variables["encoder/layer_0/self_attention/linear_0/weight"].shape == (3 * 384, 384)
    assert ct2_variables["decoder/layer_3/attention/linear_1/weight"].shape == (2 * 384, 384)
    assert int(ct2_variables["decoder/num_heads"]) == 6


@pytest.mark.slow
def test_dims_and_state_dict_match_openai_whisper_exactly(checkpoint: dict) -> None:
    """The checkpoint has tiny.en's dims and exactly the parameter names and shapes of
    whisper.model.Whisper (so load_state_dict is strict)."""
    from whisper.model import ModelDimensions, Whisper

    assert checkpoint["dims"] == TINY_EN_DIMS
    reference = Whisper(ModelDimensions(**checkpoint["dims"])).state_dict()
    converted = checkpoint["model_state_dict"]
    assert set(converted) == set(reference)
    for name, tensor in reference.items():
        assert tuple(converted[name].shape) == tuple(tensor.shape), name
    assert checkpoint["alignment_heads"] == [[1, 0], [2, 0], [2, 5], [3, 0], [3, 1], [3, 2], [3, 3], [3, 4]]


@pytest.mark.slow
def test_fused_projections_are_split_in_q_k_v_order(
    checkpoint: dict, ct2_variables: dict[str, np.ndarray]
) -> None:
    """Self-attention q|k|v and cross-attention k|v re-concatenate to the fused CTranslate2 weights;
    the key projections have no bias (CTranslate2 stores zeros there)."""
    sd = {k: v.numpy() for k, v in checkpoint["model_state_dict"].items()}
    fused = ct2_variables["encoder/layer_2/self_attention/linear_0/weight"]
    rebuilt = np.concatenate([sd[f"encoder.blocks.2.attn.{p}.weight"] for p in ("query", "key", "value")])
    np.testing.assert_array_equal(rebuilt, fused)
    fused_bias = ct2_variables["encoder/layer_2/self_attention/linear_0/bias"]
    assert not np.any(fused_bias[384:768])
    np.testing.assert_array_equal(sd["encoder.blocks.2.attn.value.bias"], fused_bias[768:])
    assert "encoder.blocks.2.attn.key.bias" not in sd
    cross = ct2_variables["decoder/layer_1/attention/linear_1/weight"]
    np.testing.assert_array_equal(sd["decoder.blocks.1.cross_attn.key.weight"], cross[:384])
    np.testing.assert_array_equal(sd["decoder.blocks.1.cross_attn.value.weight"], cross[384:])


def test_int8_weights_are_dequantised() -> None:
    """An int8 weight with a per-row weight_scale becomes weight / scale in float32."""
    variables: dict[str, np.ndarray] = {
        "x/weight": np.array([[100, -50], [10, 20]], np.int8),
        "x/weight_scale": np.array([50.0, 10.0], np.float32),
    }
    np.testing.assert_allclose(_weights(variables, "x"), np.array([[2.0, -1.0], [1.0, 2.0]]))


@pytest.mark.slow
def test_encoder_output_matches_ctranslate2(corpus_audio_one: np.ndarray) -> None:
    """The converted encoder on openai-whisper computes the same features as CTranslate2 running the
    original (float32 both, 7 s window): the weights were mapped to the right places."""
    import ctranslate2
    import torch
    import whisper
    from faster_whisper.feature_extractor import FeatureExtractor

    from mood.transcribe import _fit_encoder, _pad_to

    audio = _pad_to(corpus_audio_one, 7.0)
    mel = FeatureExtractor()(audio, padding=0)[:, :700].astype(np.float32)
    ct2 = ctranslate2.models.Whisper(str(default_model_dir()), device="cpu", compute_type="float32")
    expected = np.array(ct2.encode(ctranslate2.StorageView.from_array(np.ascontiguousarray(mel[None]))))
    model = load_openai_model(None)
    _fit_encoder(model)
    with torch.no_grad():
        got = model.encoder(torch.from_numpy(mel)[None]).numpy()
    assert got.shape == expected.shape == (1, 350, 384)
    np.testing.assert_allclose(got, expected, atol=2e-2)
    # and openai-whisper's own mel agrees with faster-whisper's
    np.testing.assert_allclose(
        whisper.log_mel_spectrogram(torch.from_numpy(audio)).numpy()[:, :700], mel, atol=2e-3
    )


@pytest.fixture(scope="module")
def corpus_audio_one(mood_corpus: list[MoodCorpusItem]) -> np.ndarray:
    samples, rate = load_wav(mood_corpus[1].path)
    return normalise(samples, rate)


@pytest.mark.slow
def test_written_checkpoint_loads_in_stock_openai_whisper_and_transcribes(
    tmp_path: Path, mood_corpus: list[MoodCorpusItem], corpus_audio_one: np.ndarray
) -> None:
    """Round trip: convert to a .pt file, load it with stock whisper.load_model, transcribe with stock
    model.transcribe (30 s padding) and get the same words as faster-whisper on the original."""
    import whisper

    out = convert_ct2_to_openai(None, tmp_path / "sub" / "tiny.en.pt")
    assert out.is_file() and out.stat().st_size > 50_000_000  # float16 tiny.en is ~75 MB
    model = whisper.load_model(str(out), device="cpu")
    stock = model.transcribe(corpus_audio_one, language="en", fp16=False)
    ours = load_transcriber("faster-whisper").transcribe(corpus_audio_one)
    assert stock["text"].strip() == ours.text
    # our own loader keeps the alignment heads the stock one drops
    ours_model = load_openai_model(out)
    assert ours_model.alignment_heads.to_dense().sum().item() == 8


def test_bad_model_files_are_engine_errors(tmp_path: Path) -> None:
    """A missing, truncated or non-Whisper model.bin raises EngineError."""
    with pytest.raises(EngineError):
        read_ct2_model(tmp_path / "missing.bin")
    data = (default_model_dir() / "model.bin").read_bytes()[:5000]
    (tmp_path / "model.bin").write_bytes(data)
    with pytest.raises(EngineError):
        read_ct2_model(tmp_path / "model.bin")
    other = tmp_path / "other"
    other.mkdir()
    name = b"TransformerSpec\x00"
    blob = struct.pack("<I", 6) + struct.pack("<H", len(name)) + name + struct.pack("<III", 1, 0, 0)
    (other / "model.bin").write_bytes(blob)
    with pytest.raises(EngineError, match="not a Whisper model"):
        ct2_to_openai_checkpoint(other)


def test_garbage_checkpoint_is_engine_error(tmp_path: Path) -> None:
    """A .pt file that is not a checkpoint raises EngineError when loaded."""
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"nope")
    with pytest.raises(EngineError):
        load_openai_model(bad)


def test_missing_torch_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without torch the converter raises EngineError naming the [openai-whisper] extra."""
    monkeypatch.setitem(sys.modules, "torch", None)
    with pytest.raises(EngineError, match=r"cadence\[openai-whisper\]"):
        ct2_to_openai_checkpoint(None)
