"""The model catalog: one file per domain, each exposing CASES (Case with kind="model").

Weights are seeded random unless ETCONFORM_WEIGHTS=pretrained (pytest --weights
pretrained), which uses weights already on disk and fails clearly when they are not.
"""
