"""Optional installs. The plain install validates, diffs and gates' logic; training and
evaluation need the ``train`` and ``eval`` extras. A command that needs one says which to
install (MC005, exit 2) instead of failing with an import traceback."""

from __future__ import annotations

import importlib.util

from modelcfg.core.errors import UserError

# The top-level modules each extra brings.
EXTRAS = {
    "train": ("torch", "transformers", "peft", "accelerate", "tokenizers", "trl"),
    "eval": ("lm_eval",),
}


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a broken or blocked install counts as missing
        return False


def _error(what: str, extra: str, missing: list[str]) -> UserError:
    return UserError("MC005", f"{what} needs the {extra} extra ({', '.join(missing)} not "
                     f"installed): pip install 'modelcfg[{extra}]'", exit_code=2)


def require(*extras: str, what: str = "this command") -> None:
    """Raise MC005 naming the first missing extra (nothing is imported to check)."""
    for extra in extras:
        missing = [m for m in EXTRAS[extra] if not _installed(m)]
        if missing:
            raise _error(what, extra, missing)


def missing_extra(exc: BaseException) -> UserError | None:
    """MC005 for an import of a module that an extra provides; None for anything else."""
    if not isinstance(exc, ModuleNotFoundError):
        return None
    top = (exc.name or "").split(".")[0]
    extra = next((e for e, modules in EXTRAS.items() if top in modules), None)
    return None if extra is None else _error("this command", extra, [top])


def versions(*distributions: str) -> dict[str, str | None]:
    """The installed version of each distribution (None when not installed): what runs,
    fingerprints and the tiny model's build record."""
    from importlib.metadata import PackageNotFoundError, version

    out: dict[str, str | None] = {}
    for name in distributions:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = None
    return out
