"""The shipped tiny model: its files match their committed hashes, the loader refuses any
other bytes (MC611), and a wheel would carry the files. Torch-free and fast."""

from __future__ import annotations

import fnmatch
import re
import shutil
from pathlib import Path

import pytest

from modelcfg.core.errors import UserError
from modelcfg.core.hashing import sha256_file
from modelcfg.tiny import shipped

ROOT = Path(__file__).resolve().parents[2]


def test_every_shipped_file_matches_its_committed_hash():
    files = {p.name for p in shipped.WEIGHTS_DIR.iterdir() if p.is_file()}
    assert files == set(shipped.SHIPPED_SHA256)
    assert {n: sha256_file(shipped.WEIGHTS_DIR / n) for n in files} == shipped.SHIPPED_SHA256
    assert shipped.shipped_model_dir() == shipped.WEIGHTS_DIR


def test_the_shipped_files_stay_small():
    total = sum(p.stat().st_size for p in shipped.WEIGHTS_DIR.iterdir())
    assert total < 2 * 1024 * 1024


@pytest.mark.parametrize("damage", ["flip a byte", "truncate", "remove"])
def test_the_loader_refuses_a_tampered_file(tmp_path, damage):
    copy = tmp_path / "weights"
    shutil.copytree(shipped.WEIGHTS_DIR, copy)
    assert shipped.shipped_model_dir(copy) == copy
    weights = copy / shipped.WEIGHTS_FILE
    if damage == "remove":
        weights.unlink()
    else:
        data = bytearray(weights.read_bytes())
        data = data[:-1] if damage == "truncate" else data[:-1] + bytes([data[-1] ^ 0xFF])
        weights.write_bytes(bytes(data))
    with pytest.raises(UserError) as err:
        shipped.shipped_model_dir(copy)
    assert err.value.code == "MC611"
    assert shipped.WEIGHTS_FILE in err.value.message


def test_the_revision_names_the_shipped_bytes():
    other = dict(shipped.SHIPPED_SHA256, **{shipped.WEIGHTS_FILE: "0" * 64})
    assert shipped.weights_revision() != shipped.sha256_bytes(shipped.canonical_json(other))


def test_the_package_data_includes_every_shipped_file():
    # (a regex, not tomllib: the package supports Python 3.10)
    line = re.search(r'^"modelcfg\.tiny" = \[(.*)\]$', (ROOT / "pyproject.toml").read_text(),
                     re.M)
    patterns = re.findall(r'"([^"]+)"', line.group(1))
    for name in shipped.SHIPPED_SHA256:
        assert any(fnmatch.fnmatch(f"weights/{name}", p) for p in patterns), name
