"""Every audit kind the hub can record has a label on the resident's history page and in the auditor console,
in all six languages (issue 12 leftovers, item 2).

The kinds are read off the source of ``hub/``, ``audit/`` and ``consent/``, not copied here: every
``AuditEvent(kind=...)``, and every function or dataclass that hands its ``kind`` on to one (``_record``,
``_step``, ``Broker.preview``, the broker's attempt...), found by following those hand-overs to a fixed point.
Each kind expression at a call site is resolved the way the code builds it: a literal, a module constant (a
string, or every value of a collection or mapping), a local assigned from such, an f-string matched against
its module's ``*KINDS`` collections, or a call into a module that declares its ``AUDIT_KINDS``. An expression
that cannot be resolved fails the test, so a new way of naming a kind has to be made readable first.
``audit/synthetic.py`` (benchmark data, not something the hub records) is left out.
"""

from __future__ import annotations

import ast
import importlib
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from hub import i18n

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("hub", "audit", "consent")
SKIPPED = {"audit/synthetic.py"}
CARRIER = "AuditEvent"
# Where the labels are looked up: the history page (``hub.web.portal``) and the console (``hub.web.auditor``).
HISTORY = (("pages", "disputes"), "kind.{}")
CONSOLE = (("auditor", "disputes"), "audit.kind.{}")


@dataclass
class Source:
    path: str
    module: ModuleType
    tree: ast.Module
    parents: dict[ast.AST, ast.AST] = field(default_factory=dict)

    def enclosing(self, node: ast.AST) -> ast.AST | None:
        while node in self.parents:
            node = self.parents[node]
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                return node
        return None


def sources() -> list[Source]:
    found = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            relative = path.relative_to(ROOT).as_posix()
            if relative in SKIPPED or "/migrations/" in relative or path.name == "__main__.py":
                continue
            name = relative.removesuffix(".py").replace("/", ".").removesuffix(".__init__")
            tree = ast.parse(path.read_text(encoding="utf-8"))
            source = Source(relative, importlib.import_module(name), tree)
            for parent in ast.walk(tree):
                for child in ast.iter_child_nodes(parent):
                    source.parents[child] = parent
            found.append(source)
    return found


def _name(call: ast.Call) -> str | None:
    if isinstance(call.func, ast.Name):
        return call.func.id
    if isinstance(call.func, ast.Attribute):
        return call.func.attr
    return None


def _params(function: ast.FunctionDef | ast.AsyncFunctionDef) -> list[str]:
    names = [a.arg for a in (*function.args.posonlyargs, *function.args.args)]
    return names[1:] if names[:1] in (["self"], ["cls"]) else names


def _kind_default(function: ast.FunctionDef | ast.AsyncFunctionDef) -> ast.expr | None:
    positional = [*function.args.posonlyargs, *function.args.args]
    with_defaults = positional[len(positional) - len(function.args.defaults) :]
    named = {arg.arg: default for arg, default in zip(with_defaults, function.args.defaults, strict=True)}
    for arg, kw_default in zip(function.args.kwonlyargs, function.args.kw_defaults, strict=True):
        if kw_default is not None:
            named[arg.arg] = kw_default
    return named.get("kind")


def _takes_kind(function: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    """A ``kind`` parameter, or ``**values`` that may carry one."""
    named = [*_params(function), *(a.arg for a in function.args.kwonlyargs)]
    return "kind" in named or function.args.kwarg is not None


def _kind_field(cls: ast.ClassDef) -> ast.AnnAssign | None:
    for item in cls.body:
        if isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name) and item.target.id == "kind":
            return item
    return None


def _kind_argument(call: ast.Call, params: list[str] | None) -> ast.expr | None:
    for keyword in call.keywords:
        if keyword.arg == "kind":
            return keyword.value
    if params and "kind" in params and params.index("kind") < len(call.args):
        return call.args[params.index("kind")]
    return None


class Kinds:
    """The kinds the code records, and the expressions it names them with that could not be read."""

    def __init__(self, modules: list[Source]) -> None:
        self.modules = modules
        self.kinds: set[str] = set()
        self.unresolved: list[str] = []
        self.carriers: dict[str, list[str] | None] = {
            CARRIER: None
        }  # name -> positional params (None: keyword)

    def run(self) -> None:
        while self._grow():
            pass
        for source in self.modules:
            for node in ast.walk(source.tree):
                if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name in self.carriers:
                    default = _kind_default(node)
                    if default is not None:
                        self._add(source, node, default)
                if isinstance(node, ast.ClassDef) and node.name in self.carriers:
                    kind_field = _kind_field(node)
                    if kind_field is not None and kind_field.value is not None:
                        self._add(source, node, kind_field.value)
                if isinstance(node, ast.Call) and _name(node) in self.carriers:
                    argument = self._argument(source, node)
                    if argument is not None:
                        self._add(source, node, argument)

    def _argument(self, source: Source, call: ast.Call) -> ast.expr | None:
        """The kind a call to a carrier passes; positions read off the module's own function of that name
        (several modules have a ``_record``, each with its own parameters), else the carrier's."""
        name = _name(call) or ""
        local = [
            node
            for node in source.tree.body
            + [i for c in source.tree.body if isinstance(c, ast.ClassDef) for i in c.body]
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name == name
        ]
        if local:
            params = _params(local[0])
            if not _takes_kind(local[0]):
                return None  # this module's function of that name takes no kind
            return _kind_argument(call, params)
        return _kind_argument(call, self.carriers[name])

    def _grow(self) -> bool:
        """Functions whose ``kind`` parameter, and dataclasses whose ``kind`` field, reach a carrier."""
        grown = False
        for source in self.modules:
            for node in ast.walk(source.tree):
                if not (isinstance(node, ast.Call) and _name(node) in self.carriers):
                    continue
                argument = self._argument(source, node)
                function = source.enclosing(node)
                if isinstance(argument, ast.Name) and argument.id == "kind" and function is not None:
                    assert isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef)
                    if "kind" in _params(function) or "kind" in [a.arg for a in function.args.kwonlyargs]:
                        if function.name not in self.carriers:
                            self.carriers[function.name] = _params(function)
                            grown = True
                spread = [k.value for k in node.keywords if k.arg is None and isinstance(k.value, ast.Name)]
                if isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef) and function.args.kwarg:
                    if (
                        any(v.id == function.args.kwarg.arg for v in spread)
                        and function.name not in self.carriers
                    ):
                        self.carriers[function.name] = None  # ``**values`` handed on: kind by keyword
                        grown = True
                if isinstance(argument, ast.Attribute) and argument.attr == "kind":
                    for cls in ast.walk(source.tree):
                        if (
                            isinstance(cls, ast.ClassDef)
                            and _kind_field(cls)
                            and cls.name not in self.carriers
                        ):
                            self.carriers[cls.name] = None
                            grown = True
        return grown

    def _add(self, source: Source, at: ast.AST, expr: ast.expr) -> None:
        found = self._resolve(source, at, expr)
        if found is None:
            self.unresolved.append(f"{source.path}:{getattr(at, 'lineno', '?')}: {ast.unparse(expr)}")
        else:
            self.kinds |= found

    def _resolve(self, source: Source, at: ast.AST, expr: ast.expr) -> set[str] | None:
        if isinstance(expr, ast.Constant) and isinstance(expr.value, str):
            return {expr.value}
        function = source.enclosing(at) if not isinstance(at, ast.FunctionDef | ast.AsyncFunctionDef) else at
        if isinstance(expr, ast.Name):
            if function is not None:
                assert isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef)
                if expr.id == "kind" and function.name in self.carriers:
                    return set()  # handed on: its callers' kinds are collected where they call
                assigned = list(self._assignments(function, expr.id))
                if assigned:
                    kinds: set[str] = set()
                    for value in assigned:
                        one = self._resolve(source, value, value)
                        if one is None:
                            return None
                        kinds |= one
                    return kinds
            return _strings(getattr(source.module, expr.id, None))
        if isinstance(expr, ast.Attribute):
            if expr.attr == "kind":
                return set()  # a carrier dataclass's field: its defaults and constructions are collected
            return _strings(_dotted(source.module, expr))
        if isinstance(expr, ast.Subscript) and isinstance(expr.value, ast.Name | ast.Attribute):
            held = _dotted(source.module, expr.value)
            return _strings(list(held.values()) if isinstance(held, Mapping) else held)
        if isinstance(expr, ast.JoinedStr):
            pattern = re.compile(
                "".join(re.escape(v.value) if isinstance(v, ast.Constant) else ".+" for v in expr.values)
            )
            declared = {
                kind
                for name, value in vars(source.module).items()
                if name.endswith("KINDS")
                for kind in (_strings(value) or set())
            }
            matched = {kind for kind in declared if pattern.fullmatch(kind)}
            return matched or None
        if isinstance(expr, ast.Call):
            callee = _dotted(source.module, expr.func)
            home = importlib.import_module(callee.__module__) if callable(callee) else None
            return _strings(getattr(home, "AUDIT_KINDS", None))
        return None

    @staticmethod
    def _assignments(function: ast.AST, name: str) -> Iterator[ast.expr]:
        for node in ast.walk(function):
            if not isinstance(node, ast.Assign):
                continue
            for target in node.targets:
                if isinstance(target, ast.Name) and target.id == name:
                    yield node.value
                if isinstance(target, ast.Tuple) and isinstance(node.value, ast.Tuple):
                    for element, value in zip(target.elts, node.value.elts, strict=False):
                        if isinstance(element, ast.Name) and element.id == name:
                            yield value


def _dotted(module: ModuleType, expr: ast.expr) -> Any:
    if isinstance(expr, ast.Name):
        return getattr(module, expr.id, None)
    if isinstance(expr, ast.Attribute):
        return getattr(_dotted(module, expr.value), expr.attr, None)
    return None


def _strings(value: Any) -> set[str] | None:
    if isinstance(value, str):
        return {value}
    if isinstance(value, Mapping):
        value = list(value.values())
    if isinstance(value, list | tuple | set | frozenset) and value and all(isinstance(v, str) for v in value):
        return set(value)
    return None


def recordable() -> set[str]:
    kinds = Kinds(sources())
    kinds.run()
    assert kinds.unresolved == [], "kind expressions the test cannot read:\n" + "\n".join(kinds.unresolved)
    return kinds.kinds


def test_the_kinds_are_read_off_the_code() -> None:
    """A floor, so that a broken reader cannot pass by finding nothing: kinds from each way of naming one."""
    kinds = recordable()
    assert {
        "lookup",  # the broker's attempt, a dataclass default
        "preview",  # a parameter's default, handed on to the attempt
        "consent_request_received",  # a module constant
        "consent_pause",  # a mapping's values
        "consent_approve",  # a local assigned in branches
        "consent_expired",  # a subscript of a module mapping (the sweep)
        "case_approved",  # a call into a module declaring AUDIT_KINDS (the case lifecycle)
        "dispute_escalated",  # an f-string matched against its module's KINDS
        "export",  # the audit package's own
        "audit_query",
    } <= kinds
    assert all(re.fullmatch(r"[a-z][a-z0-9_]{0,31}", kind) for kind in kinds), sorted(kinds)


def test_every_recordable_kind_has_a_history_and_a_console_label_in_six_languages() -> None:
    missing = []
    for kind in sorted(recordable()):
        for domains, key in (HISTORY, CONSOLE):
            for lang in i18n.SUPPORTED:
                if not any(key.format(kind) in i18n.catalog(lang, domain) for domain in domains):
                    missing.append(f"{lang}: {key.format(kind)}")
    assert missing == [], "labels missing:\n" + "\n".join(missing)
