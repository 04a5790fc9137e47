"""Where an LLM's lowering spends its time, and how it grows with the layer count.

    .venv/bin/python bench/profile_lowering.py --model opt --layers 1 2 --target tosa_int

Builds the model's real configuration with fewer decoder layers (random weights: the
time does not depend on them), lowers it with etconform.lowering.pipeline.lower under cProfile,
and prints each stage's seconds, the seconds per added layer, and the functions with
the most cumulative time in the largest configuration. With --retraces it counts, per pass,
how often ExecuTorch re-traced the whole graph (`ExportPass.call`): on SmolLM2's Arm lowering
`PropagateViewCopyPermute{Down,Up}Pass` re-trace 6 L + 6 times, so their cost grows with the
square of the depth (FINDINGS.md, "Lowering time of LLMs on the Arm backend"):

    .venv/bin/python bench/profile_lowering.py --model smollm2 --layers 2 4 8 --target tosa_fp --retraces
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import cProfile
import pstats
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from etconform.lowering.pipeline import lower  # noqa: E402
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


@contextlib.contextmanager
def counting_retraces():
    """Count each pass's whole-graph re-traces and their seconds, by class. Observes only: the
    pass runs unchanged."""
    from executorch.exir import pass_base

    counts: collections.Counter[str] = collections.Counter()
    seconds: collections.Counter[str] = collections.Counter()
    original = pass_base._ExportPassBase.call

    def call(self, graph_module):  # noqa: ANN001, ANN202
        start = time.perf_counter()
        try:
            return original(self, graph_module)
        finally:
            counts[type(self).__name__] += 1
            seconds[type(self).__name__] += time.perf_counter() - start

    pass_base._ExportPassBase.call = call
    try:
        yield counts, seconds
    finally:
        pass_base._ExportPassBase.call = original


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", choices=("opt", "smollm2"), default="opt")
    parser.add_argument("--layers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--target", default="tosa_int")
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--retraces", action="store_true", help="count each pass's re-traces of the graph")
    args = parser.parse_args()
    target = TARGETS[args.target]
    inputs = (torch.randint(4, 49152, (1, 32), generator=torch.Generator().manual_seed(0)),)
    totals: dict[int, float] = {}
    profile = None
    for layers in sorted(args.layers):
        module = build(args.model, layers)
        profile = cProfile.Profile()
        start = time.perf_counter()
        with tempfile.TemporaryDirectory() as workdir, counting_retraces() as (counts, seconds):
            profile.enable()
            lowered = lower(module, inputs, target, Path(workdir), calibration=[inputs])
            profile.disable()
        totals[layers] = time.perf_counter() - start
        stages = ", ".join(f"{k} {v:.1f} s" for k, v in lowered.seconds.items())
        print(f"{args.model} {layers} layer(s) on {args.target}: {totals[layers]:.1f} s ({stages}); "
              f"{lowered.delegation.get('partitions')} partitions; {sum(counts.values())} re-traces, "
              f"{sum(seconds.values()):.1f} s", flush=True)
        if args.retraces:
            for name, count in counts.most_common(5):
                print(f"  {name}: {count} re-traces, {seconds[name]:.1f} s", flush=True)
    if len(totals) > 1:
        lo, hi = min(totals), max(totals)
        print(f"per added layer: {(totals[hi] - totals[lo]) / (hi - lo):.1f} s")
    pstats.Stats(profile).sort_stats("cumulative").print_stats(args.top)


if __name__ == "__main__":
    main()
