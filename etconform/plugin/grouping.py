"""Keep the operator tests of one case together: in one worker and one after another, so
that they share the case's build and export (etconform.lowering.shared).

Model tests are not grouped: each lowers for minutes, and the targets of one model are
better spread over the workers than run in a row.
"""

from __future__ import annotations

from typing import Any

from etconform.targets import TARGETS


def param_of(nodeid: str) -> str:
    """A test's parameter id: `<case>-<target>` of `...::test_operator[<case>-<target>]`."""
    return nodeid.rpartition("[")[2].rstrip("]")


def split(param: str) -> tuple[str, str] | None:
    """(case id, target name) of a parameter id; None if it names no target. The one place test ids are read."""
    target = next((t for t in TARGETS if param.endswith(f"-{t}")), None)
    return (param[: -len(target) - 1], target) if target else None


def case_of(param: str) -> str | None:
    """The case id of a test's parameter id (`<case>-<target>`); None if it names no target."""
    parts = split(param)
    return parts[0] if parts else None


def scope(nodeid: str) -> str:
    """The case id for an operator test (`...test_operators.py::test_operator[<case>-<target>]`); a self-test's
    module (its module fixtures, a lowering or a Vela run, are then made on one worker, not on each); else the node id."""
    if nodeid.startswith("tests/"):
        return nodeid.split("::", 1)[0]
    if "test_operators.py::" not in nodeid or not nodeid.endswith("]"):
        return nodeid
    return case_of(param_of(nodeid)) or nodeid


def case_major(items: list[Any]) -> None:
    """Sort items in place so that each scope's tests follow its first test (stable otherwise)."""
    first: dict[str, int] = {}
    for i, item in enumerate(items):
        first.setdefault(scope(item.nodeid), i)
    items.sort(key=lambda item: first[scope(item.nodeid)])


def make_scheduler(config: Any, log: Any) -> Any:
    """xdist's loadscope scheduling with a case as the scope, in collection order."""
    from xdist.scheduler import LoadScopeScheduling

    class CaseScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return scope(nodeid)

        def remove_node(self, node: Any) -> str | None:
            """As loadscope, except that the test a crashed worker was running is reported, not
            queued again: loadscope would hand it to the next worker, which it would crash too."""
            workload = self.assigned_work.get(node, {})
            crashed = next((nodeid for unit in workload.values() for nodeid, done in unit.items() if not done), None)
            for unit in workload.values():
                if crashed in unit:
                    unit[crashed] = True
            for done in [name for name, unit in workload.items() if all(unit.values())]:
                del workload[done]  # a unit with nothing left to run would be sent empty and never finish
            super().remove_node(node)
            return crashed

        def schedule(self) -> None:
            """As loadscope, except that a worker started in place of a crashed one gets two units, as
            the first workers do: a worker runs a test only once it knows the next one, so with a
            single one-test unit it would sit idle until the end of the run (pytest-xdist issue 1327,
            fixed there for loadgroup only; 3.8.0 here)."""
            started = self.collection is not None
            super().schedule()
            if started:
                for node in self.nodes:
                    self._reschedule(node)

    config.option.loadscopereorder = False  # keep collection order: no sorting of scopes by size
    return CaseScheduling(config, log)
