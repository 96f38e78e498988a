"""The README's Python examples run as written, so they never rot."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def test_readme_has_python_examples():
    assert BLOCKS


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_readme_python_block_runs(index):
    namespace: dict = {}
    exec(compile(BLOCKS[index], f"README.md[python block {index}]", "exec"), namespace)
    if "clf" in namespace and hasattr(namespace["clf"], "leaderboard_"):
        assert len(namespace["clf"].leaderboard_) >= 1


SPACES_README = README.parent / "search_spaces" / "README.md"
YAML_BLOCKS = re.findall(r"```yaml\n(.*?)```", SPACES_README.read_text(), flags=re.S)


@pytest.mark.parametrize("index", range(len(YAML_BLOCKS)))
def test_search_space_readme_yaml_blocks_load(index):
    """The schema as documented loads (its example once mixed cnn-only parameters into
    an mlp space, which the loader refuses)."""
    import yaml

    from lepton.search import load_search_space

    assert YAML_BLOCKS and load_search_space(yaml.safe_load(YAML_BLOCKS[index])).parameters
