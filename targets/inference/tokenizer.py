"""Chat tokenizers: a built-in character-level one for `tiny`, an adapter over Hugging Face's.

Both turn chat messages into prompt ids and hand out incremental decoders, so the
engine can stream text token by token without re-decoding the whole answer.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

__all__ = [
    "CharTokenizer",
    "ChatTokenizer",
    "HFChatTokenizer",
    "IncrementalDecoder",
]

ChatMessages = Sequence[Mapping[str, str]]

# Char-level vocabulary of the tiny model: 8 special ids, then "\n" and printable ASCII.
PAD_ID, BOS_ID, EOS_ID, UNK_ID = 0, 1, 2, 3
_ROLE_IDS = {"system": 4, "developer": 4, "user": 5, "assistant": 6, "tool": 7}
_N_SPECIAL = 8
_TEMPLATE_ROLES = {"developer": "system"}
_CHARS = "\n" + "".join(chr(c) for c in range(32, 127))
CHAR_VOCAB_SIZE = _N_SPECIAL + len(_CHARS)
# Text of a special id generated inside an answer: none (they are markup, not text).
_REPLACEMENT = ""


class IncrementalDecoder(Protocol):
    def push(self, token_id: int) -> str:
        """Text that became final with this token (may be empty)."""
        ...

    def flush(self) -> str:
        """Whatever text is still held back, at the end of the answer."""
        ...


class ChatTokenizer(Protocol):
    """What the engine and the API need from a tokenizer."""

    @property
    def eos_token_ids(self) -> frozenset[int]: ...

    @property
    def pad_token_id(self) -> int: ...

    def encode_chat(self, messages: ChatMessages) -> list[int]: ...

    def decoder(self) -> IncrementalDecoder: ...


class _CharDecoder:
    def __init__(self, table: Sequence[str]) -> None:
        self._table = table

    def push(self, token_id: int) -> str:
        return self._table[token_id] if 0 <= token_id < len(self._table) else _REPLACEMENT

    def flush(self) -> str:
        return ""


class CharTokenizer:
    """One id per character; a chat turn is `<role> text <eos>`, the prompt ends in `<assistant>`.

    Built in code so the tiny model needs no file and no download; characters outside
    printable ASCII become `<unk>`.
    """

    vocab_size = CHAR_VOCAB_SIZE

    def __init__(self) -> None:
        self._ids = {ch: _N_SPECIAL + i for i, ch in enumerate(_CHARS)}
        self._table = [_REPLACEMENT] * _N_SPECIAL + list(_CHARS)

    @property
    def eos_token_ids(self) -> frozenset[int]:
        return frozenset({EOS_ID})

    @property
    def pad_token_id(self) -> int:
        return PAD_ID

    def encode_text(self, text: str) -> list[int]:
        return [self._ids.get(ch, UNK_ID) for ch in text]

    def encode_chat(self, messages: ChatMessages) -> list[int]:
        ids = [BOS_ID]
        for message in messages:
            ids.append(_ROLE_IDS.get(message["role"], _ROLE_IDS["user"]))
            ids.extend(self.encode_text(message.get("content") or ""))
            ids.append(EOS_ID)
        ids.append(_ROLE_IDS["assistant"])
        return ids

    def decoder(self) -> IncrementalDecoder:
        return _CharDecoder(self._table)


class _HFDecoder:
    """Prefix-offset detokenizer (as in TGI/vLLM): a token's text can depend on its
    neighbours (byte-level BPE splits UTF-8 characters), so decode a short window and
    emit only what is new once it no longer ends in a partial character."""

    def __init__(self, tokenizer: Any) -> None:
        self._tokenizer = tokenizer
        self._ids: list[int] = []
        self._prefix_offset = 0
        self._read_offset = 0

    def _decode(self, ids: list[int]) -> str:
        return str(self._tokenizer.decode(ids, skip_special_tokens=True))

    def push(self, token_id: int) -> str:
        self._ids.append(token_id)
        prefix = self._decode(self._ids[self._prefix_offset:self._read_offset])
        text = self._decode(self._ids[self._prefix_offset:])
        if len(text) > len(prefix) and not text.endswith("\ufffd"):
            self._prefix_offset = self._read_offset
            self._read_offset = len(self._ids)
            return text[len(prefix):]
        return ""

    def flush(self) -> str:
        prefix = self._decode(self._ids[self._prefix_offset:self._read_offset])
        text = self._decode(self._ids[self._prefix_offset:])
        self._prefix_offset = self._read_offset = len(self._ids)
        return text[len(prefix):]


class HFChatTokenizer:
    """A Hugging Face tokenizer with a chat template (falls back to plain `role: text` lines)."""

    def __init__(self, tokenizer: Any, extra_eos_ids: Sequence[int] = ()) -> None:
        self._tokenizer = tokenizer
        eos = {int(i) for i in extra_eos_ids}
        if tokenizer.eos_token_id is not None:
            eos.add(int(tokenizer.eos_token_id))
        self._eos = frozenset(eos)
        pad = tokenizer.pad_token_id
        self._pad = int(pad if pad is not None else min(eos) if eos else 0)

    @property
    def eos_token_ids(self) -> frozenset[int]:
        return self._eos

    @property
    def pad_token_id(self) -> int:
        return self._pad

    def encode_chat(self, messages: ChatMessages) -> list[int]:
        # OpenAI's "developer" role is the system prompt; chat templates only know "system".
        plain = [{"role": _TEMPLATE_ROLES.get(m["role"], m["role"]),
                  "content": m.get("content") or ""} for m in messages]
        if getattr(self._tokenizer, "chat_template", None):
            ids = self._tokenizer.apply_chat_template(
                plain, add_generation_prompt=True, tokenize=True, return_dict=False
            )
            # Some tokenizer versions answer a BatchEncoding even with return_dict=False.
            if isinstance(ids, Mapping):
                ids = ids["input_ids"]
            return [int(i) for i in ids]
        text = "".join(f"{m['role']}: {m['content']}\n" for m in plain) + "assistant:"
        return [int(i) for i in self._tokenizer.encode(text)]

    def decoder(self) -> IncrementalDecoder:
        return _HFDecoder(self._tokenizer)
