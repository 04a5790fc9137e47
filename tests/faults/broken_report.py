"""A pytest plugin that breaks the report's model table (-p tests.faults.broken_report): the run must keep
its records, leave no stale report behind, say so and fail."""

from etconform.analysis import report


def _broken(row):  # noqa: ANN001, ANN202
    raise TypeError("unsupported format string passed to NoneType.__format__")


report.model_cells = _broken
report.to_markdown = lambda built: _broken(None)
