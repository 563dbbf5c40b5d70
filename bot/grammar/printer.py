"""AST back to text: the canonical one-line rule, and a plain-English explanation."""

from __future__ import annotations

from bot.grammar import ast

# Binding strength: a child weaker than its parent needs parentheses.
_OR, _AND, _NOT, _ATOM = 1, 2, 3, 4
_OP_WORDS = {
    "contains": "contains",
    "contains_all": "contains all",
    "contains_word": "contains word",
    "is": "is",
    "startswith": "startswith",
    "endswith": "endswith",
}
_UNITS = ((86400, "d"), (3600, "h"), (60, "m"), (1, "s"))


def quote(value: str) -> str:
    """A double-quoted string the parser reads back as ``value``."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _values(values: tuple[str, ...]) -> str:
    if len(values) == 1:
        return quote(values[0])
    return "[" + ", ".join(quote(v) for v in values) + "]"


def _regex(pattern: str, flags: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\" and i + 1 < len(pattern):
            out.append(pattern[i : i + 2])
            i += 2
            continue
        out.append("\\/" if ch == "/" else ch)
        i += 1
    return "/" + "".join(out) + "/" + flags


def format_duration(seconds: int) -> str:
    """``90`` -> ``90s``, ``7200`` -> ``2h``: the largest unit that divides exactly."""
    for size, unit in _UNITS:
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"  # pragma: no cover - size 1 always divides


def _strength(node: ast.Condition) -> int:
    if isinstance(node, ast.Or):
        return _OR
    if isinstance(node, ast.And):
        return _AND
    if isinstance(node, ast.Not):
        return _NOT
    return _ATOM


def _child(node: ast.Condition, needed: int) -> str:
    text = format_condition(node)
    return f"({text})" if _strength(node) < needed else text


def format_condition(node: ast.Condition) -> str:
    """A condition with only the parentheses its structure needs."""
    if isinstance(node, ast.Or):
        return " or ".join(_child(c, _AND) for c in node.operands)
    if isinstance(node, ast.And):
        return " and ".join(_child(c, _NOT) for c in node.operands)
    if isinstance(node, ast.Not):
        return "not " + _child(node.operand, _NOT)
    if isinstance(node, ast.TextTest):
        return f"{node.field} {_OP_WORDS[node.op]} {_values(node.values)}"
    if isinstance(node, ast.Empty):
        return f"{node.field} is empty"
    if isinstance(node, ast.Matches):
        return f"{node.field} matches {_regex(node.pattern, node.flags)}"
    if isinstance(node, ast.Compare):
        return f"{node.field} {node.op} {node.value}"
    return node.name


def format_action(action: ast.Action) -> str:
    """One action as the rule language writes it."""
    if isinstance(action, ast.Notify):
        if action.target == "channel":
            channel = action.channel or ""
            where = f"<#{channel}>" if channel.isdigit() else f"#{channel}"
        else:
            where = action.target
        tail = f" {quote(action.template)}" if action.template is not None else ""
        return f"notify {where}{tail}"
    if isinstance(action, ast.Reply):
        return f"reply {quote(action.template)}"
    if isinstance(action, ast.Message):
        to = f"u/{action.to}" if action.to else "author"
        return f"message {to} {quote(action.template)}"
    if isinstance(action, ast.Crosspost):
        tail = f" {quote(action.title)}" if action.title is not None else ""
        return f"crosspost r/{action.subreddit}{tail}"
    if isinstance(action, ast.Webhook):
        return f"webhook {quote(action.url)}"
    return "log"


def format_rule(rule: ast.Rule) -> str:
    """The canonical one-line text of a rule; ``parse_rule`` reads it back as an equal AST."""
    parts = ["on", " and ".join(rule.streams)]
    if rule.subreddits:
        parts += ["in", ", ".join(f"r/{s}" for s in rule.subreddits)]
    if rule.condition is not None:
        parts += ["if", format_condition(rule.condition)]
    parts += ["then", ", ".join(format_action(a) for a in rule.actions)]
    if rule.limit is not None:
        parts.append(f"limit {rule.limit.count} per {rule.limit.per}")
    if rule.cooldown is not None:
        parts.append(f"cooldown {format_duration(rule.cooldown.seconds)} per author")
    return " ".join(parts)


# ---- explanation ----------------------------------------------------------------

_FIELD_WORDS = {
    "title": "the title",
    "body": "the body",
    "text": "the title or body",
    "author": "the author",
    "subreddit": "the subreddit",
    "flair": "the post flair",
    "author_flair": "the author's flair",
    "domain": "the link's domain",
    "url": "the link",
    "score": "the score",
    "comments": "the number of comments",
}
_TEST_WORDS = {
    "contains": ("contains", "contains any of"),
    "contains_all": ("contains", "contains all of"),
    "contains_word": ("contains the word", "contains any of the words"),
    "is": ("is", "is one of"),
    "startswith": ("starts with", "starts with one of"),
    "endswith": ("ends with", "ends with one of"),
}
_COMPARE_WORDS = {
    "<": "is less than",
    "<=": "is at most",
    ">": "is more than",
    ">=": "is at least",
    "=": "is exactly",
    "!=": "is not",
}
_NOT_FLAG_WORDS = {
    "nsfw": "it is not marked NSFW",
    "spoiler": "it is not marked as a spoiler",
    "self": "it is not a text post",
}
_FLAG_WORDS = {
    "nsfw": "it is marked NSFW",
    "spoiler": "it is marked as a spoiler",
    "self": "it is a text post",
}


def _explain_condition(node: ast.Condition) -> str:
    if isinstance(node, ast.Or | ast.And):
        joiner = " or " if isinstance(node, ast.Or) else " and "
        return joiner.join(_explain_part(c) for c in node.operands)
    if isinstance(node, ast.Not):
        if isinstance(node.operand, ast.Flag) and node.operand.name in _NOT_FLAG_WORDS:
            return _NOT_FLAG_WORDS[node.operand.name]
        return "not " + _explain_part(node.operand)
    if isinstance(node, ast.TextTest):
        one, many = _TEST_WORDS[node.op]
        listed = ", ".join(quote(v) for v in node.values)
        return f"{_FIELD_WORDS[node.field]} {one if len(node.values) == 1 else many} {listed}"
    if isinstance(node, ast.Empty):
        return f"{_FIELD_WORDS[node.field]} is empty"
    if isinstance(node, ast.Matches):
        return f"{_FIELD_WORDS[node.field]} matches {_regex(node.pattern, node.flags)}"
    if isinstance(node, ast.Compare):
        return f"{_FIELD_WORDS[node.field]} {_COMPARE_WORDS[node.op]} {node.value}"
    return _FLAG_WORDS.get(node.name, node.name)


def _explain_part(node: ast.Condition) -> str:
    text = _explain_condition(node)
    return f"({text})" if isinstance(node, ast.And | ast.Or) else text


def _explain_action(action: ast.Action) -> str:
    if isinstance(action, ast.Notify):
        where = {
            "here": "this chat",
            "me": "you privately",
            "channel": f"the channel #{action.channel}",
        }[action.target]
        return f"notify {where}" + (f" with {quote(action.template)}" if action.template else "")
    if isinstance(action, ast.Reply):
        return f"reply on Reddit with {quote(action.template)}"
    if isinstance(action, ast.Message):
        to = f"u/{action.to}" if action.to else "the author"
        return f"send {to} a Reddit message: {quote(action.template)}"
    if isinstance(action, ast.Crosspost):
        title = f" titled {quote(action.title)}" if action.title else ""
        return f"crosspost it to r/{action.subreddit}{title}"
    if isinstance(action, ast.Webhook):
        return f"POST it as JSON to {action.url}"
    return "record the match"


def _duration_words(seconds: int) -> str:
    names = {"d": "day", "h": "hour", "m": "minute", "s": "second"}
    text = format_duration(seconds)
    count, unit = int(text[:-1]), names[text[-1]]
    return f"{count} {unit}" + ("s" if count != 1 else "")


def explain_rule(rule: ast.Rule) -> str:
    """What a rule does, in a few plain lines, for ``roveit check``."""
    watches = " and ".join(f"new {s}" for s in rule.streams)
    where = ", ".join(f"r/{s}" for s in rule.subreddits) if rule.subreddits else "every subreddit"
    when = _explain_condition(rule.condition) if rule.condition else "always"
    lines = [f"Watches: {watches}", f"In: {where}", f"When: {when}", "Then:"]
    lines += [f"  {i}. {_explain_action(a)}" for i, a in enumerate(rule.actions, 1)]
    if rule.limit is not None:
        times = "time" if rule.limit.count == 1 else "times"
        lines.append(f"Limit: at most {rule.limit.count} {times} per {rule.limit.per}")
    if rule.cooldown is not None:
        lines.append(
            f"Cooldown: skips an author for {_duration_words(rule.cooldown.seconds)} after a match"
        )
    return "\n".join(lines)
