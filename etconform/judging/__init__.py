"""Judging: compare outputs, tolerances, the ideal-reference oracle, expectations, and policy,
the one place that turns records into outcomes.
"""
