"""Turn a CTranslate2 Whisper directory into an openai-whisper checkpoint, offline.

``cadence models whisper-convert [SRC_DIR] OUT.pt`` calls :func:`convert_ct2_to_openai`; the
``openai-whisper`` engine calls :func:`load_openai_model`, which converts the bundled tiny.en in memory
when no checkpoint is given.

The CTranslate2 ``model.bin`` (binary version 6, written by ``ModelSpec._serialize`` in
python/ctranslate2/specs/model_spec.py) is::

    u32 binary_version, str spec_name, u32 spec_revision, u32 n_variables,
    n_variables × (str name, u8 rank, rank × u32 dim, u8 dtype_id, u32 n_bytes, bytes),
    u32 n_aliases, n_aliases × (str alias, str target)

where ``str`` is ``u16 length_including_nul, utf-8 bytes, nul`` and ``dtype_id`` indexes
(float32, int8, int16, int32, float16, bfloat16). Whisper's layout (``WhisperSpec`` in whisper_spec.py,
filled by ``WhisperLoader`` in converters/transformers.py from the Hugging Face model):

- ``encoder/conv{1,2}``, ``encoder/position_encodings/encodings`` (the sinusoids), ``encoder/layer_i/
  self_attention/linear_0`` = q, k, v **fused** row-wise (Whisper's key projection has no bias, so the
  fused bias holds zeros for k), ``…/linear_1`` = output projection, ``…/ffn/linear_{0,1}``, pre-norms
  ``…/layer_norm/{gamma,beta}``, final ``encoder/layer_norm``;
- ``decoder/embeddings/weight`` (also the output projection, via an alias),
  ``decoder/position_encodings/encodings``, ``decoder/layer_i/self_attention/linear_0`` = fused q, k, v,
  ``…/attention/linear_0`` = cross-attention q, ``…/attention/linear_1`` = **fused** cross k, v,
  ``…/attention/linear_2`` = its output; ``decoder/layer_norm``.

int8-quantised models (a ``weight_scale`` next to each ``weight``) are dequantised to float32. The
alignment heads come from the directory's config.json and are stored in the checkpoint under
``alignment_heads`` (openai-whisper's own loader ignores the extra key).
"""

from __future__ import annotations

import json
import logging
import pickle
import re
import struct
from pathlib import Path
from typing import Any

import numpy as np

from mood.errors import EngineError

__all__ = [
    "convert_ct2_to_openai",
    "ct2_to_openai_checkpoint",
    "load_openai_model",
    "read_ct2_model",
]

logger = logging.getLogger(__name__)

_DTYPES = ("float32", "int8", "int16", "int32", "float16", "bfloat16")


def read_ct2_model(model_bin: Path) -> tuple[str, dict[str, np.ndarray]]:
    """Parse a CTranslate2 ``model.bin``.

    Returns:
        (spec_name, variables): variables by name as numpy arrays (bfloat16 widened to float32),
        aliases resolved to their targets.

    Raises:
        EngineError: If the file is missing, truncated or of an unknown binary version.
    """
    try:
        data = Path(model_bin).read_bytes()
    except OSError as exc:
        raise EngineError(f"cannot read {model_bin}: {exc}") from exc
    offset = 0

    def unpack(fmt: str) -> Any:
        nonlocal offset
        value = struct.unpack_from("<" + fmt, data, offset)[0]
        offset += struct.calcsize("<" + fmt)
        return value

    def string() -> str:
        nonlocal offset
        length = unpack("H")
        text = data[offset : offset + length - 1].decode("utf-8")
        offset += length
        return text

    try:
        version = unpack("I")
        if version < 5 or version > 6:
            raise EngineError(f"{model_bin}: unsupported CTranslate2 binary version {version}")
        spec_name = string()
        unpack("I")  # spec revision
        variables: dict[str, np.ndarray] = {}
        for _ in range(unpack("I")):
            name = string()
            shape = tuple(unpack("I") for _ in range(unpack("B")))
            dtype_id = unpack("B")
            n_bytes = unpack("I")
            raw = data[offset : offset + n_bytes]
            offset += n_bytes
            if len(raw) != n_bytes:
                raise EngineError(f"{model_bin} is truncated (in {name})")
            dtype = _DTYPES[dtype_id]
            if dtype == "bfloat16":
                bits = np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16
                array = bits.view(np.float32)
            else:
                array = np.frombuffer(raw, dtype=np.dtype(dtype).newbyteorder("<"))
            variables[name] = array.reshape(shape)
        for _ in range(unpack("I")):
            alias, target = string(), string()
            variables[alias] = variables[target]
    except (struct.error, IndexError, UnicodeDecodeError, ValueError) as exc:
        raise EngineError(f"{model_bin} is not a valid CTranslate2 model: {exc}") from exc
    return spec_name, variables


def _weights(variables: dict[str, np.ndarray], prefix: str) -> np.ndarray:
    """A linear/conv weight as a float array, dequantising int8 (weight / weight_scale per row)."""
    weight = variables[f"{prefix}/weight"]
    scale = variables.get(f"{prefix}/weight_scale")
    if weight.dtype == np.int8 or scale is not None:
        if scale is None:
            raise EngineError(f"{prefix}: int8 weight without weight_scale")
        rows = weight.shape[0]
        weight = (
            weight.astype(np.float32).reshape(rows, -1) / scale.astype(np.float32).reshape(rows, 1)
        ).reshape(weight.shape)
    return weight


def _linear(
    out: dict[str, np.ndarray], variables: dict[str, np.ndarray], src: str, dst: str, *, bias: bool = True
) -> None:
    out[f"{dst}.weight"] = _weights(variables, src)
    if bias:
        out[f"{dst}.bias"] = variables[f"{src}/bias"]


def _norm(out: dict[str, np.ndarray], variables: dict[str, np.ndarray], src: str, dst: str) -> None:
    out[f"{dst}.weight"] = variables[f"{src}/gamma"]
    out[f"{dst}.bias"] = variables[f"{src}/beta"]


def _split(
    out: dict[str, np.ndarray],
    variables: dict[str, np.ndarray],
    src: str,
    names: tuple[str, ...],
) -> None:
    """Un-fuse a row-wise concatenation of equal projections; a key projection gets no bias."""
    weight = _weights(variables, src)
    bias = variables[f"{src}/bias"]
    parts = len(names)
    for i, (w, b, name) in enumerate(
        zip(np.split(weight, parts, axis=0), np.split(bias, parts, axis=0), names, strict=True)
    ):
        out[f"{name}.weight"] = w
        if name.endswith(".key"):
            if np.any(b != 0):
                logger.warning("%s: fused key bias %d is not zero; openai-whisper drops it", src, i)
        else:
            out[f"{name}.bias"] = b


def _self_attention(sd: dict[str, np.ndarray], v: dict[str, np.ndarray], src: str, dst: str) -> None:
    """A layer's self-attention: CTranslate2's fused q/k/v linear split into openai-whisper's three."""
    _norm(sd, v, f"{src}/self_attention/layer_norm", f"{dst}.attn_ln")
    _split(
        sd,
        v,
        f"{src}/self_attention/linear_0",
        (f"{dst}.attn.query", f"{dst}.attn.key", f"{dst}.attn.value"),
    )
    _linear(sd, v, f"{src}/self_attention/linear_1", f"{dst}.attn.out")


def _feed_forward(sd: dict[str, np.ndarray], v: dict[str, np.ndarray], src: str, dst: str) -> None:
    """A layer's feed-forward block (openai-whisper's mlp.0 / GELU / mlp.2)."""
    _norm(sd, v, f"{src}/ffn/layer_norm", f"{dst}.mlp_ln")
    _linear(sd, v, f"{src}/ffn/linear_0", f"{dst}.mlp.0")
    _linear(sd, v, f"{src}/ffn/linear_1", f"{dst}.mlp.2")


def _count_layers(variables: dict[str, np.ndarray], stack: str) -> int:
    pattern = re.compile(rf"^{stack}/layer_(\d+)/")
    indices = {int(m.group(1)) for name in variables if (m := pattern.match(name))}
    return max(indices) + 1 if indices else 0


def _alignment_heads(src_dir: Path, n_layer: int, n_head: int) -> list[list[int]]:
    config_path = src_dir / "config.json"
    heads: list[list[int]] = []
    if config_path.is_file():
        heads = [
            list(map(int, pair)) for pair in json.loads(config_path.read_text()).get("alignment_heads") or []
        ]
    if not heads:  # openai-whisper's default: every head of the second half of the decoder
        heads = [[layer, head] for layer in range(n_layer // 2, n_layer) for head in range(n_head)]
    return heads


def ct2_to_openai_checkpoint(src_dir: Path | None = None) -> dict[str, Any]:
    """Build an openai-whisper checkpoint dict from a CTranslate2 Whisper directory.

    Returns:
        ``{"dims": {...}, "model_state_dict": {name: torch.Tensor}, "alignment_heads": [[layer, head]…]}``,
        tensors in the source precision (float16 for the bundled tiny.en).

    Raises:
        EngineError: If the directory is not a CTranslate2 Whisper model, or torch is missing.
    """
    try:
        import torch
    except ImportError as exc:
        raise EngineError("whisper-convert needs torch: pip install 'cadence[openai-whisper]'") from exc
    if src_dir is None:
        from mood.transcribe import default_model_dir

        src_dir = default_model_dir()
    src_dir = Path(src_dir)
    spec_name, v = read_ct2_model(src_dir / "model.bin")
    if spec_name != "WhisperSpec":
        raise EngineError(f"{src_dir} holds a {spec_name}, not a Whisper model")
    n_audio_layer = _count_layers(v, "encoder")
    n_text_layer = _count_layers(v, "decoder")
    conv1 = _weights(v, "encoder/conv1")
    embeddings = _weights(v, "decoder/embeddings")
    dims = {
        "n_mels": int(conv1.shape[1]),
        "n_audio_ctx": int(v["encoder/position_encodings/encodings"].shape[0]),
        "n_audio_state": int(conv1.shape[0]),
        "n_audio_head": int(v["encoder/num_heads"]),
        "n_audio_layer": n_audio_layer,
        "n_vocab": int(embeddings.shape[0]),
        "n_text_ctx": int(v["decoder/position_encodings/encodings"].shape[0]),
        "n_text_state": int(embeddings.shape[1]),
        "n_text_head": int(v["decoder/num_heads"]),
        "n_text_layer": n_text_layer,
    }
    sd: dict[str, np.ndarray] = {}
    _linear(sd, v, "encoder/conv1", "encoder.conv1")
    _linear(sd, v, "encoder/conv2", "encoder.conv2")
    sd["encoder.positional_embedding"] = v["encoder/position_encodings/encodings"]
    for i in range(n_audio_layer):
        src, dst = f"encoder/layer_{i}", f"encoder.blocks.{i}"
        _self_attention(sd, v, src, dst)
        _feed_forward(sd, v, src, dst)
    _norm(sd, v, "encoder/layer_norm", "encoder.ln_post")
    sd["decoder.token_embedding.weight"] = embeddings
    sd["decoder.positional_embedding"] = v["decoder/position_encodings/encodings"]
    for i in range(n_text_layer):
        src, dst = f"decoder/layer_{i}", f"decoder.blocks.{i}"
        _self_attention(sd, v, src, dst)
        _norm(sd, v, f"{src}/attention/layer_norm", f"{dst}.cross_attn_ln")
        _linear(sd, v, f"{src}/attention/linear_0", f"{dst}.cross_attn.query")
        _split(sd, v, f"{src}/attention/linear_1", (f"{dst}.cross_attn.key", f"{dst}.cross_attn.value"))
        _linear(sd, v, f"{src}/attention/linear_2", f"{dst}.cross_attn.out")
        _feed_forward(sd, v, src, dst)
    _norm(sd, v, "decoder/layer_norm", "decoder.ln")
    state_dict = {name: torch.from_numpy(np.array(array)) for name, array in sd.items()}
    return {
        "dims": dims,
        "model_state_dict": state_dict,
        "alignment_heads": _alignment_heads(src_dir, n_text_layer, dims["n_text_head"]),
    }


def convert_ct2_to_openai(src_dir: Path | None, out: Path) -> Path:
    """Write an openai-whisper checkpoint (``torch.save``) converted from a CTranslate2 directory.

    Parameters:
        src_dir: A CTranslate2 Whisper directory; None means the bundled tiny.en.
        out: The ``.pt`` file to write (parent directories are created).

    Returns:
        ``out``. The file loads with ``whisper.load_model(out)`` and with :func:`load_openai_model`.

    Raises:
        EngineError: If the source is not a CTranslate2 Whisper model or torch is missing.
    """
    import torch

    checkpoint = ct2_to_openai_checkpoint(src_dir)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    torch.save(checkpoint, tmp)
    tmp.replace(out)
    logger.info("wrote openai-whisper checkpoint %s (dims %s)", out, checkpoint["dims"])
    return out


def load_openai_model(checkpoint: Path | None = None) -> Any:
    """An openai-whisper ``Whisper`` model on the CPU, float32, in eval mode.

    Parameters:
        checkpoint: An openai-whisper ``.pt`` checkpoint (official or converted); None converts the
            bundled CTranslate2 tiny.en in memory (about a second).

    Raises:
        EngineError: If openai-whisper/torch are missing or the checkpoint cannot be loaded.
    """
    try:
        import torch
        from whisper.model import ModelDimensions, Whisper
    except ImportError as exc:
        raise EngineError(
            "the openai-whisper engine needs the optional extra: pip install 'cadence[openai-whisper]'"
        ) from exc
    if checkpoint is None:
        data = ct2_to_openai_checkpoint(None)
    else:
        try:
            with open(checkpoint, "rb") as fp:
                data = torch.load(fp, map_location="cpu", weights_only=True)
        except (OSError, RuntimeError, EOFError, ValueError, pickle.UnpicklingError) as exc:
            raise EngineError(f"cannot load the openai-whisper checkpoint {checkpoint}: {exc}") from exc
    try:
        dims = ModelDimensions(**data["dims"])
        model = Whisper(dims)
        model.load_state_dict(data["model_state_dict"])
    except (KeyError, TypeError, RuntimeError) as exc:
        raise EngineError(
            f"{checkpoint or 'the converted model'} is not an openai-whisper checkpoint: {exc}"
        ) from exc
    heads = data.get("alignment_heads")
    if heads:
        mask = torch.zeros(dims.n_text_layer, dims.n_text_head, dtype=torch.bool)
        for layer, head in heads:
            mask[int(layer), int(head)] = True
        model.register_buffer("alignment_heads", mask.to_sparse(), persistent=False)
    return model.float().eval()
