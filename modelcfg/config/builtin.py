"""Facts about the built-in models that torch-free code (validation, cost) needs.

``modelcfg.tiny.build`` builds the model from the same numbers, so they cannot drift apart.
"""

from __future__ import annotations

TINY_LLAMA = {
    "family": "llama",
    "vocab_size": 512,
    "hidden_size": 64,
    "intermediate_size": 256,
    "num_layers": 2,
    "num_heads": 4,
    "context_length": 128,
    "tied": True,  # the output head shares the input embedding
}


def llama_parameters(vocab_size: int, hidden_size: int, intermediate_size: int,
                     num_layers: int, tied: bool = False, **_) -> int:
    # (4 heads, no grouped-query attention: the k/v projections are full size.)
    """Exact parameter count of a Llama (no biases, RMSNorm weights only)."""
    per_layer = 4 * hidden_size * hidden_size + 3 * hidden_size * intermediate_size \
        + 2 * hidden_size
    embeddings = vocab_size * hidden_size * (1 if tied else 2)
    return embeddings + num_layers * per_layer + hidden_size


BUILTIN = {"tiny-llama": {**TINY_LLAMA, "parameters": llama_parameters(**TINY_LLAMA)}}
