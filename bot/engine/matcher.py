"""Which modules match an item. ``PlainMatcher`` evaluates every module; the indexed
matcher (same interface) finds candidates first. Both decide with bot.engine.evaluate."""

from __future__ import annotations

from typing import Protocol

from bot.engine.evaluate import CompiledRule, compile_rule
from bot.engine.item import Item
from bot.grammar import ast


class Matcher(Protocol):
    def add(self, module_id: int, rule: ast.Rule) -> None: ...

    def remove(self, module_id: int) -> None: ...

    def match(self, item: Item) -> list[int]:
        """Ids of the modules whose rule matches, ascending."""
        ...

    def __len__(self) -> int: ...


class PlainMatcher:
    """Evaluates every module on every item: the reference the index must agree with."""

    def __init__(self) -> None:
        self._rules: dict[int, CompiledRule] = {}

    def add(self, module_id: int, rule: ast.Rule) -> None:
        self._rules[module_id] = compile_rule(rule)
        self._rules = dict(sorted(self._rules.items()))

    def remove(self, module_id: int) -> None:
        self._rules.pop(module_id, None)

    def match(self, item: Item) -> list[int]:
        return [mid for mid, compiled in self._rules.items() if compiled.matches(item)]

    def __len__(self) -> int:
        return len(self._rules)
