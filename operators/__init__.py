"""The operator catalog: one file per family, each exposing CASES (a list of Case).

Adding an operator: add cases to its family's file (or a new file here) with
etconform.cases.op_cases. Nothing in a catalog file knows about any backend.
"""
