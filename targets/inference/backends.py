"""Local model backends: `tiny`, `smollm2`, `path:/dir` -> a model on a device + its tokenizer.

Everything loads from local files: HF_HUB_OFFLINE is set before transformers is
imported and every `from_pretrained` call is `local_files_only`.
"""

from __future__ import annotations

import inspect
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from targets.inference.convert import SMOLLM2_MODEL_NAME, ensure_smollm2
from targets.inference.errors import ModelLoadError
from targets.inference.settings import InferenceSettings
from targets.inference.tokenizer import CharTokenizer, ChatTokenizer, HFChatTokenizer

if TYPE_CHECKING:
    import torch

__all__ = ["TINY_MODEL_NAME", "LoadedModel", "load_model", "resolve_device"]

TINY_MODEL_NAME = "gatecrash-tiny"
# A real (Llama) transformer, small enough that one decode step costs ~2 ms on a CPU
# core: the engine's batching, not the model, is what the tests and benchmark exercise.
TINY_HIDDEN = 128
TINY_LAYERS = 4
TINY_HEADS = 4
TINY_KV_HEADS = 2
TINY_INTERMEDIATE = 256
TINY_MAX_POSITIONS = 8192

_log = logging.getLogger(__name__)


@dataclass
class LoadedModel:
    """A causal LM ready for the engine."""

    model: Any  # a transformers PreTrainedModel, in eval mode, on `device`
    tokenizer: ChatTokenizer
    name: str
    device: torch.device
    dtype: torch.dtype
    context_len: int  # prompt + completion never exceed this
    accepts_logits_to_keep: bool  # prefill computes only the last position's logits
    load_seconds: float = 0.0


def resolve_device(requested: str) -> torch.device:
    import torch

    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(requested)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ModelLoadError(f"device {requested!r} asked for, but torch sees no CUDA device")
    return device


def _resolve_dtype(requested: str, device: torch.device) -> torch.dtype:
    import torch

    if requested != "auto":
        dtype: torch.dtype = getattr(torch, requested)
        return dtype
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.float32


def _tiny_model(settings: InferenceSettings) -> Any:
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(
        vocab_size=CharTokenizer.vocab_size,
        hidden_size=TINY_HIDDEN,
        intermediate_size=TINY_INTERMEDIATE,
        num_hidden_layers=TINY_LAYERS,
        num_attention_heads=TINY_HEADS,
        num_key_value_heads=TINY_KV_HEADS,
        max_position_embeddings=TINY_MAX_POSITIONS,
        tie_word_embeddings=True,
        bos_token_id=1,
        eos_token_id=2,
        pad_token_id=0,
    )
    # Seeded weights without disturbing the process-wide RNG.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(settings.tiny_seed)
        return LlamaForCausalLM(config)


def _folder_model(folder: Path) -> tuple[Any, ChatTokenizer]:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if not (folder / "config.json").is_file():
        raise ModelLoadError(
            f"{folder} is not a Hugging Face model folder (no config.json); "
            "give `path:` a folder made by save_pretrained"
        )
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
        model = AutoModelForCausalLM.from_pretrained(str(folder), local_files_only=True)
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"cannot load the model in {folder}: {exc}") from exc
    eos = getattr(model.generation_config, "eos_token_id", None)
    extra = eos if isinstance(eos, list) else [] if eos is None else [eos]
    return model, HFChatTokenizer(tokenizer, extra_eos_ids=extra)


def load_model(settings: InferenceSettings) -> LoadedModel:
    """Load the configured local backend (not `upstream:`, which has no model)."""
    os.environ["HF_HUB_OFFLINE"] = "1"  # before transformers is first imported
    import torch

    started = time.perf_counter()
    spec = settings.backend_spec
    device = resolve_device(settings.device)
    dtype = _resolve_dtype(settings.dtype, device)
    if device.type == "cpu":
        torch.set_num_threads(settings.cpu_threads or max(1, (os.cpu_count() or 2) - 1))

    tokenizer: ChatTokenizer
    if spec.kind == "tiny":
        model, tokenizer, name = _tiny_model(settings), CharTokenizer(), TINY_MODEL_NAME
    elif spec.kind == "smollm2":
        model, tokenizer = _folder_model(ensure_smollm2(settings.cache_dir))
        name = SMOLLM2_MODEL_NAME
    elif spec.kind == "path":
        folder = Path(spec.target).expanduser()
        model, tokenizer = _folder_model(folder)
        name = folder.name
    else:
        raise ModelLoadError(f"backend {settings.backend!r} has no local model")

    model = model.to(device=device, dtype=dtype).eval()
    positions = getattr(model.config, "max_position_embeddings", None)
    positions = positions or settings.max_context_tokens
    loaded = LoadedModel(
        model=model,
        tokenizer=tokenizer,
        name=settings.model_name or name,
        device=device,
        dtype=dtype,
        context_len=min(settings.max_context_tokens, int(positions)),
        accepts_logits_to_keep="logits_to_keep" in inspect.signature(model.forward).parameters,
        load_seconds=time.perf_counter() - started,
    )
    _log.info("loaded %s on %s (%s) in %.2f s", loaded.name, device, dtype, loaded.load_seconds)
    return loaded
