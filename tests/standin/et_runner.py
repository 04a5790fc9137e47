#!/usr/bin/env python3
"""Stands in for a board's runner command (a device entry's `runner`).

et_runner.py PROGRAM INPUTS OUTPUTS --shape 1x8 [--sleep S] [--write all|none|extra]: runs the
program with the ExecuTorch runtime on float32 inputs (comma-separated files) and writes each
output's raw bytes to the comma-separated output files (`none`: a runner that writes nothing;
`extra`: one that writes one output more than asked).
"""

import argparse
import time

import torch
from executorch.runtime import Runtime

parser = argparse.ArgumentParser()
parser.add_argument("program")
parser.add_argument("inputs")
parser.add_argument("outputs")
parser.add_argument("--shape", action="append", default=[])
parser.add_argument("--sleep", type=float, default=0.0)
parser.add_argument("--write", choices=("all", "none", "extra"), default="all")
args = parser.parse_args()
time.sleep(args.sleep)
# A Method does not keep its Program alive: hold both (chained, execute reads freed memory).
data = open(args.program, "rb").read()
program = Runtime.get().load_program(data)
method = program.load_method("forward")
tensors = [
    torch.frombuffer(bytearray(open(name, "rb").read()), dtype=torch.float32).reshape([int(d) for d in shape.split("x")])
    for name, shape in zip(args.inputs.split(","), args.shape)
]
names = args.outputs.split(",")
names += [f"out-{len(names)}.bin"] if args.write == "extra" else []
for name, out in zip(names, [*method.execute(tensors)] * 2 if args.write != "none" else []):
    open(name, "wb").write(out.contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
print("ran", args.program)
