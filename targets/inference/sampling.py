"""Batched sampling with per-sequence settings and per-sequence reproducible noise.

Randomness is counter-based: the noise for token `i` of a sequence is a hash of the
sequence's key (its `seed`), `i` and the vocabulary id. So an answer with a `seed`
never depends on which other requests share the batch, and the whole batch samples
with a few elementwise kernels: no generator objects, no per-row calls.

The per-row settings live on the device as `SamplingRows`, rebuilt only when the
batch's membership changes, so a decode step copies nothing from the host.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass

import torch

__all__ = ["SamplingParams", "SamplingRows", "exponential_noise", "sample_next", "sequence_key"]

# Below this temperature a row is decoded greedily (argmax).
GREEDY_TEMPERATURE = 1e-5
_KEY_BITS = 63
_U64 = 1 << 64
# splitmix64 constants, as the signed int64 values torch computes with (wrapping).
_GOLDEN = 0x9E3779B97F4A7C15 - _U64
_MIX1 = 0xBF58476D1CE4E5B9 - _U64
_MIX2 = 0x94D049BB133111EB - _U64
_VOCAB_STRIDE = 0xD6E8FEB86659FD93 - _U64
_UNIFORM_BITS = 24  # float32 resolution is all Gumbel-max needs


@dataclass(frozen=True)
class SamplingParams:
    max_tokens: int
    temperature: float = 1.0
    top_p: float = 1.0
    seed: int | None = None
    stop: tuple[str, ...] = ()
    ignore_eos: bool = False  # vLLM's extension: benchmarks want fixed-length answers


def sequence_key(seed: int | None) -> int:
    """The noise key of a sequence: from its seed, or random."""
    return seed % (1 << _KEY_BITS) if seed is not None else secrets.randbits(_KEY_BITS)


def _shr(x: torch.Tensor, bits: int) -> torch.Tensor:
    """Logical right shift of int64 (torch's `>>` is arithmetic)."""
    return (x >> bits) & ((1 << (64 - bits)) - 1)


def exponential_noise(keys: torch.Tensor, counters: torch.Tensor, vocab: int) -> torch.Tensor:
    """Exp(1) noise [rows, vocab] from `keys` and `counters` [rows, 1] (int64)."""
    ids = torch.arange(vocab, device=keys.device, dtype=torch.int64).unsqueeze(0)
    x = keys * _MIX2 + counters * _GOLDEN + ids * _VOCAB_STRIDE
    x = (x ^ _shr(x, 30)) * _MIX1
    x = (x ^ _shr(x, 27)) * _MIX2
    x = x ^ _shr(x, 31)
    uniform = (_shr(x, 64 - _UNIFORM_BITS).float() + 0.5) * (2.0 ** -_UNIFORM_BITS)
    return -torch.log(uniform)


@dataclass
class SamplingRows:
    """The settings of every row of a batch, as device tensors."""

    temperature: torch.Tensor  # [rows, 1] float
    top_p: torch.Tensor  # [rows, 1] float
    greedy: torch.Tensor  # [rows] bool
    keys: torch.Tensor  # [rows, 1] int64
    counters: torch.Tensor  # [rows, 1] int64: index of the token being sampled
    all_greedy: bool
    any_top_p: bool

    @classmethod
    def build(cls, params: Sequence[SamplingParams], keys: Sequence[int],
              counters: Sequence[int], device: torch.device) -> SamplingRows:
        temps = [p.temperature for p in params]
        greedy = [t < GREEDY_TEMPERATURE for t in temps]

        def column(values: Sequence[float | int], dtype: torch.dtype) -> torch.Tensor:
            return torch.tensor(list(values), dtype=dtype, device=device).unsqueeze(1)

        return cls(
            temperature=column([max(t, GREEDY_TEMPERATURE) for t in temps], torch.float32),
            top_p=column([p.top_p for p in params], torch.float32),
            greedy=torch.tensor(greedy, device=device),
            keys=column(keys, torch.int64),
            counters=column(counters, torch.int64),
            all_greedy=all(greedy),
            any_top_p=any(p.top_p < 1.0 for p in params),
        )

    def advance(self) -> None:
        self.counters = self.counters + 1


def sample_next(logits: torch.Tensor, rows: SamplingRows) -> torch.Tensor:
    """One token id per row of `logits` [rows, vocab], as a device tensor [rows]."""
    logits = logits.float()
    greedy_ids = logits.argmax(dim=-1)
    if rows.all_greedy:
        return greedy_ids
    probs = torch.softmax(logits / rows.temperature, dim=-1)
    if rows.any_top_p:
        # Stable, so among equal probabilities the lowest id comes first, as in argmax.
        sorted_probs, order = probs.sort(dim=-1, descending=True, stable=True)
        # Drop a token once the mass before it already reaches top_p (the first always stays).
        sorted_probs[(sorted_probs.cumsum(dim=-1) - sorted_probs) >= rows.top_p] = 0.0
        probs = torch.zeros_like(probs).scatter_(1, order, sorted_probs)
    # Exponential race (Gumbel-max): argmax(p / E) with E ~ Exp(1) samples from p.
    noise = exponential_noise(rows.keys, rows.counters, probs.shape[-1])
    sampled = (probs / noise).argmax(dim=-1)
    return torch.where(rows.greedy, greedy_ids, sampled)
