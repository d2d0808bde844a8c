"""Training record layouts (an adapter's ``datasets[].format`` and ``fields``), torch-free:
which names each layout reads, which method trains on it, and whether one record has them.
``validate`` checks committed files with it; training reads every record through it."""

from __future__ import annotations

# The names each layout reads, in the order messages list them. ``input`` (alpaca) may be
# missing or empty.
FORMAT_NAMES = {
    "prompt_completion": ("prompt", "completion"),
    "alpaca": ("instruction", "input", "output"),
    "messages": ("messages",),
    "preference": ("prompt", "chosen", "rejected"),
}
OPTIONAL_NAMES = ("input",)
METHOD_FORMATS = {"sft": ("prompt_completion", "alpaca", "messages"), "dpo": ("preference",)}
ROLES = ("system", "user", "assistant")


def default_format(method: str) -> str:
    return "preference" if method == "dpo" else "prompt_completion"


def columns(fmt: str, fields: dict | None) -> dict[str, str]:
    """The layout's names -> the dataset's column names (``fields`` renames some)."""
    fields = fields or {}
    return {name: fields.get(name, name) for name in FORMAT_NAMES[fmt]}


def record_problem(record, fmt: str, fields: dict | None) -> str | None:
    """Why ``record`` cannot be read as ``fmt`` (with ``fields``), or None when it can."""
    record = record if isinstance(record, dict) else {}
    cols = columns(fmt, fields)
    if fmt == "messages":
        return _messages_problem(record.get(cols["messages"]), cols["messages"])
    missing = [col for name, col in cols.items()
               if not isinstance(record.get(col), str)
               and not (name in OPTIONAL_NAMES and record.get(col) is None)]
    if missing:
        return (f"record lacks string field(s) {', '.join(missing)} (expected "
                f"{', '.join(c for n, c in cols.items() if n not in OPTIONAL_NAMES)}"
                + (f"; format {fmt} with fields {fields}" if fields else "") + ")")
    return None


def _messages_problem(messages, col: str) -> str | None:
    if not isinstance(messages, list) or not messages:
        return f"record's {col!r} is not a non-empty list of messages"
    for i, m in enumerate(messages):
        if not (isinstance(m, dict) and m.get("role") in ROLES
                and isinstance(m.get("content"), str)):
            return (f"message {i} of {col!r} is not {{role, content}} with role "
                    f"{', '.join(ROLES)} and string content")
    if messages[-1]["role"] != "assistant":
        return f"the last message of {col!r} is not the assistant's (the one trained on)"
    return None


def canonical(record: dict, fmt: str, fields: dict | None) -> dict:
    """The record under the layout's own names (a missing alpaca ``input`` is empty)."""
    return {name: record.get(col) if record.get(col) is not None else ""
            for name, col in columns(fmt, fields).items()}
