"""Where an LLM's lowering spends its time, and how it grows with the layer count.

    .venv/bin/python bench/profile_lowering.py --model opt --layers 1 2 --target tosa_int

Builds the model's real configuration with fewer decoder layers (random weights: the
time does not depend on them), lowers it with etconform.lowering.lower under cProfile,
and prints each stage's seconds, the seconds per added layer, and the functions with
the most cumulative time in the largest configuration.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from etconform.lowering import lower  # noqa: E402
from etconform.targets import TARGETS  # noqa: E402
from models.language import Logits, opt_config  # noqa: E402


def build(model: str, layers: int) -> torch.nn.Module:
    torch.manual_seed(0)
    if model == "opt":
        from transformers import OPTForCausalLM

        return Logits(OPTForCausalLM(opt_config(layers)).eval())
    from transformers import LlamaConfig, LlamaForCausalLM

    # SmolLM2-135M's configuration (the GGUF file's metadata), fewer layers.
    config = LlamaConfig(vocab_size=49152, hidden_size=576, intermediate_size=1536, num_hidden_layers=layers,
                         num_attention_heads=9, num_key_value_heads=3, max_position_embeddings=8192,
                         rope_theta=100000.0, rms_norm_eps=1e-5, tie_word_embeddings=True)
    return Logits(LlamaForCausalLM(config).eval())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", choices=("opt", "smollm2"), default="opt")
    parser.add_argument("--layers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--target", default="tosa_int")
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args()
    target = TARGETS[args.target]
    inputs = (torch.randint(4, 49152, (1, 32), generator=torch.Generator().manual_seed(0)),)
    totals: dict[int, float] = {}
    profile = None
    for layers in sorted(args.layers):
        module = build(args.model, layers)
        profile = cProfile.Profile()
        start = time.perf_counter()
        with tempfile.TemporaryDirectory() as workdir:
            profile.enable()
            lowered = lower(module, inputs, target, Path(workdir), calibration=[inputs])
            profile.disable()
        totals[layers] = time.perf_counter() - start
        stages = ", ".join(f"{k} {v:.1f} s" for k, v in lowered.seconds.items())
        print(f"{args.model} {layers} layer(s) on {args.target}: {totals[layers]:.1f} s ({stages}); "
              f"{lowered.delegation.get('partitions')} partitions", flush=True)
    if len(totals) > 1:
        lo, hi = min(totals), max(totals)
        print(f"per added layer: {(totals[hi] - totals[lo]) / (hi - lo):.1f} s")
    pstats.Stats(profile).sort_stats("cumulative").print_stats(args.top)


if __name__ == "__main__":
    main()
