"""Pure pieces of the inference service: stop strings, tokenizer, sampling, KV batch."""

from __future__ import annotations

import pytest
import torch

from targets.inference.backends import load_model
from targets.inference.kvbatch import RunningBatch
from targets.inference.sampling import (
    SamplingParams,
    SamplingRows,
    exponential_noise,
    sample_next,
    sequence_key,
)
from targets.inference.settings import InferenceSettings, parse_backend
from targets.inference.stops import StopMatcher
from targets.inference.tokenizer import EOS_ID, CharTokenizer

pytestmark = pytest.mark.timeout(60)

CPU = torch.device("cpu")


def feed_all(matcher: StopMatcher, pieces: list[str]) -> tuple[str, bool]:
    out = []
    for piece in pieces:
        text, stopped = matcher.feed(piece)
        out.append(text)
        if stopped:
            return "".join(out), True
    return "".join(out) + matcher.flush(), False


def test_stop_string_split_across_tokens_never_leaks() -> None:
    assert feed_all(StopMatcher(["END"]), ["ab", "cE", "N", "Dxyz"]) == ("abc", True)
    assert feed_all(StopMatcher(["END"]), ["ab", "E", "N", "x"]) == ("abENx", False)
    assert feed_all(StopMatcher([]), ["a", "b"]) == ("ab", False)
    assert feed_all(StopMatcher(["\n\n", "##"]), ["hi\n", "#", "#x"]) == ("hi\n", True)
    assert feed_all(StopMatcher(["\n\n", "##"]), ["hi\n", "#", "\n"]) == ("hi\n#\n", False)


def test_char_tokenizer_round_trip_and_chat_layout() -> None:
    tok = CharTokenizer()
    ids = tok.encode_chat([{"role": "user", "content": "Hi!"}])
    assert len(ids) == 1 + 1 + 3 + 1 + 1  # bos, role, text, eos, assistant
    decoder = tok.decoder()
    assert "".join(decoder.push(i) for i in tok.encode_text("Hi there\n")) == "Hi there\n"
    assert tok.encode_text("é") == [3]  # unknown characters become <unk>
    assert tok.eos_token_ids == frozenset({EOS_ID})


def test_backend_spec_parsing() -> None:
    assert parse_backend("tiny").kind == "tiny"
    assert parse_backend("path:/models/x").target == "/models/x"
    assert parse_backend("upstream:http://h:1").kind == "upstream"
    with pytest.raises(ValueError, match="unknown backend"):
        InferenceSettings(backend="gpt5")
    with pytest.raises(ValueError, match="after 'path:'"):
        parse_backend("path:")


def rows_for(params: list[SamplingParams], counters: list[int] | None = None) -> SamplingRows:
    keys = [sequence_key(p.seed) for p in params]
    return SamplingRows.build(params, keys, counters or [0] * len(params), CPU)


def test_sampling_rows_are_independent_of_their_neighbours() -> None:
    torch.manual_seed(0)
    logits = torch.randn(3, 50)
    params = [SamplingParams(max_tokens=1, seed=s) for s in (1, 2, 3)]

    def draw(rows: list[int], chosen: list[SamplingParams] = params) -> list[int]:
        return [int(i) for i in sample_next(logits[rows], rows_for([chosen[r] for r in rows]))]

    together = draw([0, 1, 2])
    assert together == [draw([0])[0], draw([1])[0], draw([2])[0]]
    greedy = [SamplingParams(max_tokens=1, temperature=0)] * 3
    assert draw([0, 1, 2], greedy) == logits.argmax(dim=-1).tolist()
    mixed = [params[0], greedy[1], params[2]]
    assert draw([0, 1, 2], mixed) == [together[0], int(logits[1].argmax()), together[2]]


def test_noise_depends_on_key_and_token_index_only() -> None:
    keys = torch.tensor([[7], [7], [8]])
    noise = exponential_noise(keys, torch.tensor([[0], [1], [0]]), 1000)
    assert torch.equal(noise[0], exponential_noise(keys[:1], torch.tensor([[0]]), 1000)[0])
    assert not torch.equal(noise[0], noise[1]) and not torch.equal(noise[0], noise[2])
    big = exponential_noise(torch.tensor([[123]]), torch.tensor([[5]]), 200_000)
    assert abs(float(big.mean()) - 1.0) < 0.02  # Exp(1): mean 1, variance 1
    assert abs(float(big.var()) - 1.0) < 0.05


def test_sampling_follows_the_distribution() -> None:
    probs = torch.tensor([0.5, 0.3, 0.15, 0.05])
    logits = torch.log(probs).repeat(4000, 1)
    params = [SamplingParams(max_tokens=1, seed=s) for s in range(4000)]
    counts = torch.bincount(sample_next(logits, rows_for(params)), minlength=4) / 4000
    assert torch.allclose(counts, probs, atol=0.03), counts


def test_top_p_keeps_only_the_nucleus() -> None:
    logits = torch.log(torch.tensor([0.5, 0.3, 0.15, 0.05])).repeat(200, 1)
    params = [SamplingParams(max_tokens=1, top_p=0.7, seed=s) for s in range(200)]
    assert set(sample_next(logits, rows_for(params)).tolist()) == {0, 1}


def test_running_batch_matches_one_sequence_at_a_time() -> None:
    """Continuous batching (a row joining mid-decode, a row leaving) is exact."""
    from transformers import DynamicCache

    model = load_model(InferenceSettings(backend="tiny", device="cpu")).model
    prompts = [[1, 5, 20, 21, 22, 23, 24, 2, 6], [1, 5, 30, 31, 2, 6], [1, 5, 40, 2, 6]]

    def reference(ids: list[int]) -> torch.Tensor:
        return model(input_ids=torch.tensor([ids])).logits[0, -1]

    def prefill(group: list[list[int]]) -> tuple[object, torch.Tensor, torch.Tensor]:
        length = max(len(p) for p in group)
        ids = torch.zeros((len(group), length), dtype=torch.long)
        mask = torch.zeros_like(ids)
        for row, p in enumerate(group):
            ids[row, length - len(p):] = torch.tensor(p)
            mask[row, length - len(p):] = 1
        cache = DynamicCache()
        out = model(input_ids=ids, attention_mask=mask, past_key_values=cache,
                    position_ids=(mask.cumsum(1) - 1).clamp(min=0), use_cache=True)
        return out.past_key_values, mask, out.logits[:, -1]

    with torch.inference_mode():
        batch = RunningBatch(torch.device("cpu"))
        seqs = [list(prompts[0])]
        cache, mask, logits = prefill([prompts[0]])
        batch.join(cache, mask, torch.tensor([50]))
        seqs[0].append(50)
        for step in range(6):
            if step == 2:  # two more sequences join the running batch
                cache, mask, logits = prefill(prompts[1:])
                for p, nxt, lg in zip(prompts[1:], (60, 61), logits, strict=True):
                    assert torch.allclose(lg, reference(p), atol=1e-4)
                    seqs.append([*p, nxt])
                batch.join(cache, mask, torch.tensor([60, 61]))
            if step == 4:  # the first one finishes
                batch.keep_rows([1, 2])
                seqs = seqs[1:]
            out = model(**batch.decode_inputs())
            for row, seq in enumerate(seqs):
                assert torch.allclose(out.logits[row, -1], reference(seq), atol=1e-4)
            tokens = [10 + step + row for row in range(len(seqs))]
            batch.advance(torch.tensor(tokens))
            for seq, token in zip(seqs, tokens, strict=True):
                seq.append(token)
        assert batch.size == 2
        assert batch.length == max(len(s) for s in seqs) - 1  # unused columns were trimmed
