"""Batched sampling with per-sequence settings and per-sequence seeded generators.

Each row draws its randomness from its own `torch.Generator`, so an answer with a
`seed` does not depend on which other requests share the batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

__all__ = ["SamplingParams", "make_generator", "sample_next"]

# Below this temperature a row is decoded greedily (argmax).
GREEDY_TEMPERATURE = 1e-5


@dataclass(frozen=True)
class SamplingParams:
    max_tokens: int
    temperature: float = 1.0
    top_p: float = 1.0
    seed: int | None = None
    stop: tuple[str, ...] = ()
    ignore_eos: bool = False  # vLLM's extension: benchmarks want fixed-length answers


def make_generator(device: torch.device, seed: int | None) -> torch.Generator:
    generator = torch.Generator(device=device)
    if seed is None:
        generator.seed()  # non-deterministic, from the OS
    else:
        generator.manual_seed(seed & 0xFFFF_FFFF_FFFF_FFFF)
    return generator


def sample_next(
    logits: torch.Tensor,
    params: Sequence[SamplingParams],
    generators: Sequence[torch.Generator],
) -> list[int]:
    """One token id per row of `logits` [batch, vocab]."""
    logits = logits.float()
    greedy_ids = logits.argmax(dim=-1)
    temps = [p.temperature for p in params]
    if all(t < GREEDY_TEMPERATURE for t in temps):
        return [int(i) for i in greedy_ids.tolist()]

    temperature = torch.tensor(
        [max(t, GREEDY_TEMPERATURE) for t in temps], device=logits.device
    ).unsqueeze(1)
    probs = torch.softmax(logits / temperature, dim=-1)
    top_p = [p.top_p for p in params]
    if any(p < 1.0 for p in top_p):
        sorted_probs, order = probs.sort(dim=-1, descending=True)
        limit = torch.tensor(top_p, device=logits.device).unsqueeze(1)
        # Drop a token once the mass before it already reaches top_p (the first always stays).
        sorted_probs[(sorted_probs.cumsum(dim=-1) - sorted_probs) >= limit] = 0.0
        probs = torch.zeros_like(probs).scatter_(1, order, sorted_probs)
    # Exponential race (Gumbel-max): argmax(p / E) with E ~ Exp(1) samples from p, and
    # lets every row use its own generator while the arithmetic stays batched.
    noise = torch.stack(
        [torch.empty_like(probs[0]).exponential_(generator=g) for g in generators]
    )
    sampled = (probs / noise).argmax(dim=-1)
    greedy = torch.tensor([t < GREEDY_TEMPERATURE for t in temps], device=logits.device)
    return [int(i) for i in torch.where(greedy, greedy_ids, sampled).tolist()]
