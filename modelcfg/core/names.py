"""The shapes of names and ids that files on disk and in git must have."""

from __future__ import annotations

import re

# An adapter (or model, suite) name: also a file name under evals/baselines/.
NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,62}$")
# A sha256 in hex.
HEX64 = re.compile(r"^[0-9a-f]{64}$")
