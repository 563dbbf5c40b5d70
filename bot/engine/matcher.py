"""Which modules match an item. ``PlainMatcher`` evaluates every module; the indexed
matcher (same interface) finds candidates first. Both decide with bot.engine.evaluate."""

from __future__ import annotations

import bisect
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
        self._order: list[int] = []  # module ids, ascending

    def add(self, module_id: int, rule: ast.Rule) -> None:
        if module_id not in self._rules:
            bisect.insort(self._order, module_id)
        self._rules[module_id] = compile_rule(rule)

    def remove(self, module_id: int) -> None:
        if self._rules.pop(module_id, None) is not None:
            del self._order[bisect.bisect_left(self._order, module_id)]

    def match(self, item: Item) -> list[int]:
        rules = self._rules
        return [mid for mid in self._order if rules[mid].matches(item)]

    def __len__(self) -> int:
        return len(self._rules)
