"""`path:/dir`: a Hugging Face folder (model + tokenizer + chat template) made in the test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest

from targets.inference import InferenceSettings
from targets.inference.tokenizer import HFChatTokenizer
from tests.inference.conftest import RunningServer, start_server

pytestmark = pytest.mark.timeout(120)

CHAT_TEMPLATE = (
    "{% for m in messages %}<s>{{ m['role'] }}\n{{ m['content'] }}</s>{% endfor %}"
    "{% if add_generation_prompt %}<s>assistant\n{% endif %}"
)
SPECIALS = ["<pad>", "<s>", "</s>", "<unk>"]
MESSAGES: Any = [{"role": "developer", "content": "Réponds brièvement ☃"},
                 {"role": "user", "content": "héllo"}]


def make_hf_folder(folder: Path) -> Any:
    """A byte-level BPE tokenizer (no merges) and a 2-layer Llama, saved like a hub model."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    alphabet = pre_tokenizers.ByteLevel.alphabet()
    vocab = {tok: i for i, tok in enumerate([*SPECIALS, *sorted(alphabet)])}
    backend = Tokenizer(models.BPE(vocab=vocab, merges=[], unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, pad_token="<pad>",
                                        bos_token="<s>", eos_token="</s>", unk_token="<unk>")
    tokenizer.add_special_tokens({"additional_special_tokens": SPECIALS})
    tokenizer.chat_template = CHAT_TEMPLATE
    tokenizer.save_pretrained(folder)
    config = LlamaConfig(vocab_size=len(vocab), hidden_size=64, intermediate_size=128,
                         num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                         max_position_embeddings=512, bos_token_id=1, eos_token_id=2,
                         pad_token_id=0)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(1)
        LlamaForCausalLM(config).save_pretrained(folder)
    return tokenizer


@pytest.fixture(scope="module")
def path_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningServer, Any]]:
    folder = tmp_path_factory.mktemp("hf-model")
    tokenizer = make_hf_folder(folder)
    server = start_server(InferenceSettings(backend=f"path:{folder}", device="cpu"),
                          instance="inference-path")
    yield server, tokenizer
    server.stop()


def test_path_backend_serves_a_local_folder(path_server: tuple[RunningServer, Any]) -> None:
    server, tokenizer = path_server
    api = openai.OpenAI(base_url=server.v1, api_key="unused", max_retries=0, timeout=60)
    kwargs: Any = {"model": "m", "messages": MESSAGES, "max_tokens": 16, "seed": 3,
                   "extra_body": {"ignore_eos": True}}
    whole = api.chat.completions.create(**kwargs)
    # "developer" is rendered as "system": chat templates do not know OpenAI's new role.
    expected = HFChatTokenizer(tokenizer).encode_chat(MESSAGES)
    assert tokenizer.decode(expected).startswith("<s>system\nRéponds brièvement ☃</s>")
    assert whole.usage is not None
    assert whole.usage.prompt_tokens == len(expected)
    assert whole.usage.completion_tokens == 16
    chunks = api.chat.completions.create(stream=True, **kwargs)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == whole.choices[0].message.content
    assert server.health()["model"] == Path(str(server.settings.backend_spec.target)).name


def test_incremental_decoding_never_splits_characters() -> None:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())
    backend = Tokenizer(models.BPE(vocab={t: i for i, t in enumerate(alphabet)}, merges=[]))
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    hf = PreTrainedTokenizerFast(tokenizer_object=backend)
    text = "naïve ☃ 日本 ok"
    ids = hf.encode(text)
    assert len(ids) > len(text)  # multi-byte characters span several byte tokens
    decoder = HFChatTokenizer(hf).decoder()
    pieces = [decoder.push(i) for i in ids]
    assert all("\ufffd" not in p for p in pieces)
    assert "".join(pieces) + decoder.flush() == text
