"""After a run: the report and its HTML, the matrix, causes, diff, qualify, draft, localize, the explorer."""
