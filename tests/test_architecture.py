"""
The package's shape, as a newcomer relies on it: layers that import one way, job kinds written as
code (no lambdas, no import paths in strings), operators that assign their own arguments, hooks
typed per API, and modules short enough to read.
"""

from __future__ import annotations

import ast
import inspect
import re
import typing
from pathlib import Path

import pytest

from airflow_provider_sov._shared.jobs import JobKind
from airflow_provider_sov.operators import broker as broker_operators
from airflow_provider_sov.operators import sov as sov_operators
from airflow_provider_sov.sensors import broker as broker_sensors
from airflow_provider_sov.sensors import sov as sov_sensors

PACKAGE = Path(__file__).resolve().parents[1] / "airflow_provider_sov"
MAX_LINES = 500


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}
#: The provider itself: what its import rules bind (the emulator and test stacks are for tests).
PROVIDER = {name: path for name, path in MODULES.items() if ".testing" not in name}


def is_type_checking(node: ast.If) -> bool:
    return isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING"


def run_time_imports(path: Path, *, type_only_too: bool = False) -> set[str]:
    """The package's modules ``path`` imports when it runs: at module level or inside functions, and
    the type-only imports under ``if TYPE_CHECKING:`` only when ``type_only_too``."""
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and is_type_checking(node) and not type_only_too:
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                child = f"{node.module}.{alias.name}"
                found.add(child if child in MODULES else node.module)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(path.read_text()))
    return {name for name in found if name in (MODULES if type_only_too else PROVIDER)}


@pytest.mark.parametrize("part", ["provider", "testing"])
def test_no_import_cycle_in_the_package_type_only_imports_counted(part):
    """Not among the provider's modules, nor among the emulator's: a type-only import back is a cycle too."""
    modules = {n: p for n, p in MODULES.items() if (".testing" in n) == (part == "testing")}
    graph = {
        name: run_time_imports(path, type_only_too=True) & set(modules) - {name}
        for name, path in modules.items()
    }
    # A package's __init__ importing its own children is how a package is put together, not a layer.
    graph = {name: {d for d in deps if not d.startswith(name + ".")} for name, deps in graph.items()}
    cycles: list[list[str]] = []
    state: dict[str, int] = {}

    def walk(name: str, stack: list[str]) -> None:
        state[name] = 1
        for dep in sorted(graph[name]):
            if state.get(dep) == 1:
                cycles.append([*stack[stack.index(dep) :], dep])
            elif dep not in state:
                walk(dep, [*stack, dep])
        state[name] = 2

    for name in sorted(graph):
        if name not in state:
            walk(name, [name])
    assert not cycles, "\n".join(" -> ".join(c) for c in cycles)


def test_the_import_check_sees_a_cycle_made_inside_a_function(tmp_path):
    """The check above reads imports inside functions too: a lazy import back is still a cycle."""
    source = "def f():\n    from airflow_provider_sov.hooks.sov import SovHook\n"
    (tmp_path / "m.py").write_text(source)
    assert run_time_imports(tmp_path / "m.py") == {"airflow_provider_sov.hooks.sov"}
    guarded = (
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import airflow_provider_sov.hooks.sov\n"
    )
    (tmp_path / "n.py").write_text(guarded)
    assert run_time_imports(tmp_path / "n.py") == set()


KIND_MODULES = (
    "_shared/jobs.py",
    "hooks/sov_jobs.py",
    "hooks/broker_jobs.py",
    "hooks/broker_validation.py",
    "hooks/broker_published.py",
)
#: The hooks (all I/O) and the kinds (how a job reads), by module.
HOOK_MODULES = (
    "airflow_provider_sov.hooks.sov",
    "airflow_provider_sov.hooks.sov_records",
    "airflow_provider_sov.hooks.broker",
    "airflow_provider_sov.hooks.broker_submissions",
    "airflow_provider_sov.hooks.broker_session",
)
KINDS = tuple("airflow_provider_sov." + m.removesuffix(".py").replace("/", ".") for m in KIND_MODULES[1:])


def test_hooks_never_import_their_kinds_and_kinds_import_hooks_only_to_name_them():
    """A hook imports routes and rules, never a kind; a kind reaches its hook only in ``hook_class()``."""
    for hook in HOOK_MODULES:
        assert not run_time_imports(MODULES[hook]) & set(KINDS), hook
    for kind in KINDS:
        tree = ast.parse(MODULES[kind].read_text())
        top = {
            node.module
            for node in tree.body
            if isinstance(node, ast.ImportFrom) and node.module and node.module in HOOK_MODULES
        }
        assert not top, (kind, top)
        assert not run_time_imports(MODULES[kind]) & {
            "airflow_provider_sov.triggers.sov",
            "airflow_provider_sov.triggers.broker",
        }


IMPORT_PATH = re.compile(r"^airflow_provider_sov(\.\w+)+$")


def trigger_paths(tree: ast.AST) -> set[int]:
    """The string constants given as a kind's ``trigger`` or an API's ``hook`` (class paths, imported
    when a task runs, as Airflow's trigger table stores a trigger's)."""
    found = set()
    for node in ast.walk(tree):
        if (isinstance(node, ast.keyword) and node.arg in ("trigger", "hook")) or (
            isinstance(node, ast.Assign) and [ast.unparse(t) for t in node.targets] == ["trigger"]
        ):
            found.add(id(node.value))
    return found


@pytest.mark.parametrize("relative", KIND_MODULES)
def test_job_kinds_are_code_not_lambdas_or_import_paths(relative):
    """The only import paths a kind module holds are the class paths of the trigger that polls a kind
    and of its API's hook (data, as in Airflow's trigger table); nothing else is looked up by name."""
    tree = ast.parse((PACKAGE / relative).read_text())
    lambdas = [n.lineno for n in ast.walk(tree) if isinstance(n, ast.Lambda)]
    allowed = trigger_paths(tree)
    paths = [
        n.value
        for n in ast.walk(tree)
        if isinstance(n, ast.Constant)
        and isinstance(n.value, str)
        and IMPORT_PATH.match(n.value)
        and id(n) not in allowed
    ]
    assert not lambdas and not paths, (lambdas, paths)


def task_classes() -> list[type]:
    classes = []
    for module in (sov_operators, broker_operators, sov_sensors, broker_sensors):
        for name in getattr(module, "__all__", None) or dir(module):
            value = getattr(module, name)
            if (
                isinstance(value, type)
                and value.__module__.startswith("airflow_provider_sov.")
                and name[0] != "_"
            ):
                classes.append(value)
    return sorted(set(classes), key=lambda c: c.__name__)


def init_parameters(cls: type) -> list[str]:
    tree = ast.parse(Path(str(inspect.getsourcefile(cls))).read_text())
    (node,) = [n for n in ast.walk(tree) if isinstance(n, ast.ClassDef) and n.name == cls.__name__]
    inits = [f for f in node.body if isinstance(f, ast.FunctionDef) and f.name == "__init__"]
    if not inits:
        return []
    (init,) = inits
    params = [a.arg for a in (*init.args.args, *init.args.kwonlyargs) if a.arg != "self"]
    assigned = {
        t.attr
        for n in ast.walk(init)
        if isinstance(n, ast.Assign)
        for t in n.targets
        if isinstance(t, ast.Attribute) and isinstance(t.value, ast.Name) and t.value.id == "self"
    }
    handed_to_base = [
        kw
        for n in ast.walk(init)
        if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and n.func.attr == "__init__"
        for kw in n.keywords
    ]
    # Handed to the base under its own name (normalised first), or as the value of another argument.
    passed_on = {kw.arg for kw in handed_to_base} | {
        used.id for kw in handed_to_base for used in ast.walk(kw.value) if isinstance(used, ast.Name)
    }
    return [p for p in params if p not in assigned and p not in passed_on]


@pytest.mark.parametrize("cls", task_classes(), ids=lambda c: c.__name__)
def test_operators_and_sensors_assign_their_own_arguments(cls):
    """Airflow's convention: each argument is ``self.x = x`` in ``__init__`` (or handed to the base)."""
    assert init_parameters(cls) == []


def test_no_keep_arguments_helper_is_left():
    assert not [p for p in PROVIDER.values() if "keep_arguments" in p.read_text()]


def hook_type_of(cls: type) -> str | None:
    """The hook type a task class's base is given (``JobOperator["SovHook"]``), as a name."""
    for klass in cls.__mro__:
        for base in getattr(klass, "__orig_bases__", ()):
            for arg in typing.get_args(base):
                return (
                    arg.__forward_arg__
                    if isinstance(arg, typing.ForwardRef)
                    else getattr(arg, "__name__", None)
                )
    return None


@pytest.mark.parametrize("cls", [c for c in task_classes() if hasattr(c, "kind")], ids=lambda c: c.__name__)
def test_each_tasks_hook_is_typed_as_its_apis_hook(cls):
    assert hook_type_of(cls) == cls.kind.api.hook_class().__name__


def test_no_hook_property_is_typed_any():
    typed_any = []
    for name, path in PROVIDER.items():
        for node in ast.walk(ast.parse(path.read_text())):
            is_hook = isinstance(node, ast.FunctionDef) and node.name == "hook"
            if is_hook and (node.returns is None or ast.unparse(node.returns) in ("Any", "typing.Any")):
                typed_any.append(f"{name}:{node.lineno}")
    assert not typed_any


@pytest.mark.parametrize("name", sorted(MODULES))
def test_no_module_is_over_500_lines(name):
    lines = len(MODULES[name].read_text().splitlines())
    assert lines <= MAX_LINES, f"{name} has {lines} lines"


def package_classes() -> list[type]:
    """Every class the package defines (its modules imported; the emulator's too)."""
    import importlib

    found = []
    for name in MODULES:
        module = importlib.import_module(name)
        for value in vars(module).values():
            if isinstance(value, type) and value.__module__ == name:
                found.append(value)
    return found


def test_no_class_stacks_more_than_two_of_the_packages_own_bases():
    own = [
        (
            cls.__qualname__,
            [b.__name__ for b in cls.__bases__ if b.__module__.startswith("airflow_provider_sov")],
        )
        for cls in package_classes()
    ]
    assert [(name, bases) for name, bases in own if len(bases) > 2] == []


def test_no_state_is_kept_in_an_objects_dict():
    """State lives in attributes a reader sees assigned (or in the task's state store), never in ``__dict__``."""
    used = []
    for name, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Attribute) and node.attr == "__dict__":
                used.append(f"{name}:{node.lineno}")
    assert used == []


def test_no_registry_is_filled_by_an_import_side_effect():
    hooks = [
        f"{name}:{node.lineno}"
        for name, path in MODULES.items()
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.FunctionDef) and node.name == "__init_subclass__"
    ]
    assert hooks == []


def every_kind():
    from airflow_provider_sov.hooks import broker_jobs, broker_published, broker_validation, sov_jobs

    return [
        kind
        for module in (sov_jobs, broker_jobs, broker_validation, broker_published)
        for kind in vars(module).values()
        if isinstance(kind, JobKind)
    ]


def test_each_kind_names_the_trigger_that_polls_it_and_that_trigger_names_it_back():
    from airflow_provider_sov._shared.trigger import JobTrigger
    from airflow_provider_sov._shared.waiting import trigger_class

    kinds = every_kind()
    assert {k.name for k in kinds} == {
        "update",
        "submission",
        "parse",
        "output",
        "generation",
        "validation",
        "published",
    }
    for kind in kinds:
        if kind.name == "published":  # read once by its operator, never waited on
            assert kind.trigger is None
            continue
        polls = trigger_class(kind)
        assert issubclass(polls, JobTrigger) and polls.kind is kind, kind
        assert f"{polls.__module__}.{polls.__qualname__}" == kind.trigger
