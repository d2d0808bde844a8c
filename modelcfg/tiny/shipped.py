"""The built-in tiny model as shipped: its weights and tokenizer are package data, checked
against the sha256 committed below before anything loads them.

Why shipped and not built: the same build recipe gives different weights on machines whose
CPUs torch dispatches to different kernels (``torch.backends.cpu.get_cpu_capability()``),
so evidence made on one machine would not reproduce on another. Two builds on one machine
are bitwise identical; two machines are not. The files in ``weights/`` are one build,
regenerated only on purpose with ``python -m modelcfg.tiny.build`` (which rewrites them and
the table below).

Torch-free (hashing only): fingerprints name the weights by :func:`weights_revision`.
"""

from __future__ import annotations

from pathlib import Path

from modelcfg.core.errors import UserError
from modelcfg.core.hashing import canonical_json, sha256_bytes, sha256_file

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
# The weights file, whose sha256 names the base weights in manifests and baselines.
WEIGHTS_FILE = "model.safetensors"

# BEGIN SHIPPED (rewritten by `python -m modelcfg.tiny.build`)
SHIPPED_SHA256 = {
    "build.json": "a1c4925efebc3395bbbad9a6acf5a4727d37c845df0df349b1c8cab52e901da4",
    "config.json": "6dc8bcf567de4664e98fe89037f210b3d137509f5578bfdf3dd135c866d21723",
    "generation_config.json": "b3774c2596ef62cd2f3a08561715f3c8b423448d4f03f89fc62181c461218360",
    "model.safetensors": "f2fa9b539477e969ed9d084fc435f5d0d7f581264324c160e3db05a9726787ea",
    "tokenizer.json": "075c0d00fcb562867c54908d2f5a662bbc0732fd94ba0724e51be11792de8567",
    "tokenizer_config.json": "37bfb9187474ce4c43a6ab1e6238f0a945887ed21f1bf2b6726a82709755048f",
}
# END SHIPPED


def weights_revision() -> str:
    """One hash of every shipped file: the builtin model's revision in fingerprints."""
    return sha256_bytes(canonical_json(SHIPPED_SHA256))


def mismatches(directory: Path, expected: dict[str, str] | None = None) -> list[str]:
    """Files of ``directory`` that are missing or differ from ``expected`` (default: the
    committed table), as sentences; empty when every file matches."""
    expected = SHIPPED_SHA256 if expected is None else expected
    out = []
    for name, sha in sorted(expected.items()):
        path = directory / name
        if not path.is_file():
            out.append(f"{name} is missing")
        elif sha256_file(path) != sha:
            out.append(f"{name} has sha256 {sha256_file(path)[:12]}…, expected {sha[:12]}…")
    return out


def shipped_model_dir(directory: Path | None = None) -> Path:
    """The verified folder of the shipped tiny model (a normal Hugging Face model folder).
    MC611 when a file is missing or does not match its committed sha256: never load weights
    other than the ones every machine shares."""
    directory = WEIGHTS_DIR if directory is None else Path(directory)
    problems = mismatches(directory) if SHIPPED_SHA256 else ["no hashes are committed"]
    if problems:
        raise UserError("MC611", f"the shipped tiny model in {directory.name}/ does not match "
                        f"its committed hashes ({'; '.join(problems)}); reinstall modelcfg, "
                        "or regenerate on purpose with `python -m modelcfg.tiny.build`",
                        path=str(directory))
    return directory
