"""Language models: OPT-125M, built from its real configuration.

OPT-125M: 12 decoder layers, hidden 768, 12 heads, FFN 3072, vocabulary 50272, weights
seeded random (or the local Hugging Face cache with --weights pretrained). Inputs: 32
token ids drawn uniformly from the vocabulary (no tokenizer ships here), batch 1;
2 evaluation sequences, 4 for calibration. The module returns the logits only (no KV
cache) and passes explicit position ids, which lets it lower to Ethos-U. Metrics: cosine, SQNR, next-token agreement and KL divergence of the
next-token distributions.
Not yet: generation with a KV cache; Llama-style models.
"""

from __future__ import annotations

import torch

from etconform.cases import Case
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
    from transformers import OPTConfig, OPTForCausalLM  # here: collection should not import transformers

    config = OPTConfig(
        vocab_size=VOCAB, hidden_size=768, num_hidden_layers=12, ffn_dim=3072, num_attention_heads=12,
        max_position_embeddings=2048, word_embed_proj_dim=768, do_layer_norm_before=True,
    )
    return Logits(weights.huggingface_model(OPTForCausalLM, config, "facebook/opt-125m"))


def tokens(g: torch.Generator) -> tuple[torch.Tensor]:
    return (torch.randint(4, VOCAB, (1, TOKENS), generator=g),)


CASES = [
    Case("opt_125m", f"{TOKENS}_tokens", opt_125m, tokens, kind="model", samples=2,
         calibration=lambda g: [tokens(g) for _ in range(4)], metrics="language_model", weights=weights.describe,
         data="random token ids (seeded)",
         # Random weights leave the top next-token logits nearly tied: int8 flips about 3 in 4
         # argmaxes while cosine stays at 0.986 (measured on U55 and TOSA INT).
         tolerance={"min_next_token_agreement": 0.2}),
]
