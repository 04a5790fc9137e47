"""From a case to a program: export, quantize, partition, Vela; lowering shared across targets; the artifact cache.

Everything here decides results, so its source enters every cache key (cache._HARNESS_DIRS).
"""
