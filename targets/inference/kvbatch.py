"""The running batch: one left-padded KV cache shared by every sequence being decoded.

Rows are right-aligned (every decode step appends one column to all of them), so a
row joining later is left-padded with masked columns. The tensors are rebuilt only
when membership changes (a group joins, rows finish); a decode step is one plain
forward over the whole batch.
"""

from __future__ import annotations

from typing import Any

import torch

__all__ = ["RunningBatch"]


def _pad_left(t: torch.Tensor, length: int, dim: int) -> torch.Tensor:
    missing = length - t.shape[dim]
    if missing <= 0:
        return t
    shape = list(t.shape)
    shape[dim] = missing
    return torch.cat([t.new_zeros(shape), t], dim=dim)


def _layers(cache: Any) -> list[Any]:
    # transformers >= 4.56: DynamicCache.layers[i].keys / .values, [batch, heads, seq, dim].
    return [layer for layer in cache.layers if getattr(layer, "keys", None) is not None]


class RunningBatch:
    def __init__(self, device: torch.device) -> None:
        self.device = device
        self._reset()

    def _reset(self) -> None:
        device = self.device
        self.cache: Any = None  # transformers DynamicCache
        self.mask = torch.zeros((0, 0), dtype=torch.long, device=device)
        self.positions = torch.zeros(0, dtype=torch.long, device=device)
        self.next_ids = torch.zeros(0, dtype=torch.long, device=device)

    @property
    def size(self) -> int:
        return int(self.mask.shape[0])

    @property
    def length(self) -> int:
        return int(self.mask.shape[1])

    def join(self, cache: Any, mask: torch.Tensor, next_ids: torch.Tensor) -> None:
        """Append freshly prefilled rows (their cache, their [rows, len] mask)."""
        # Padded prompt positions hold garbage K/V; zero them so a masked column can
        # never turn into NaN through 0 * inf in attention.
        keep = mask[:, None, :, None].to(_layers(cache)[0].keys.dtype)
        for layer in _layers(cache):
            layer.keys = layer.keys * keep
            layer.values = layer.values * keep
        positions = mask.sum(dim=1)
        ids = next_ids.to(device=self.device, dtype=torch.long)
        if self.size == 0:
            self.cache, self.mask, self.positions, self.next_ids = cache, mask, positions, ids
            return
        length = max(self.length, int(mask.shape[1]))
        for old, new in zip(_layers(self.cache), _layers(cache), strict=True):
            old.keys = torch.cat([_pad_left(old.keys, length, 2), _pad_left(new.keys, length, 2)])
            old.values = torch.cat(
                [_pad_left(old.values, length, 2), _pad_left(new.values, length, 2)]
            )
        self.mask = torch.cat([_pad_left(self.mask, length, 1), _pad_left(mask, length, 1)])
        self.positions = torch.cat([self.positions, positions])
        self.next_ids = torch.cat([self.next_ids, ids])

    def keep_rows(self, rows: list[int]) -> None:
        """Keep only `rows` (in that order), then drop columns no remaining row uses."""
        if len(rows) == self.size:
            return
        if not rows:
            self._reset()
            return
        index = torch.tensor(rows, dtype=torch.long, device=self.device)
        self.mask = self.mask.index_select(0, index)
        self.positions = self.positions.index_select(0, index)
        self.next_ids = self.next_ids.index_select(0, index)
        used = self.mask.any(dim=0).nonzero()
        start = int(used[0].item()) if used.numel() else self.length
        for layer in _layers(self.cache):
            layer.keys = layer.keys.index_select(0, index)[:, :, start:]
            layer.values = layer.values.index_select(0, index)[:, :, start:]
        self.mask = self.mask[:, start:]

    def decode_inputs(self) -> dict[str, Any]:
        """Keyword arguments of the model's forward for one decode step (mask grown by one)."""
        ones = torch.ones((self.size, 1), dtype=self.mask.dtype, device=self.device)
        self.mask = torch.cat([self.mask, ones], dim=1)
        return {
            "input_ids": self.next_ids.unsqueeze(1),
            "attention_mask": self.mask,
            "position_ids": self.positions.unsqueeze(1),
            "past_key_values": self.cache,
            "use_cache": True,
        }

    def advance(self, next_ids: torch.Tensor) -> None:
        """After a decode step: every row moves one position; `next_ids` are its inputs."""
        self.positions = self.positions + 1
        self.next_ids = next_ids
