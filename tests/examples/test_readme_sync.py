"""Every Python example in README "Testing your client" is a file here, named after its test, holding it verbatim."""

from __future__ import annotations

import re
from pathlib import Path

HERE = Path(__file__).resolve().parent
README = HERE.parents[1] / "README.md"


def python_blocks() -> list[str]:
    section = README.read_text().split("## Testing your client", 1)[1].split("\n## ", 1)[0]
    return [block.split("```", 1)[0] for block in section.split("```python\n")[1:]]


def test_every_readme_example_is_a_test_file_holding_it_verbatim():
    blocks = python_blocks()
    assert len(blocks) >= 6
    for block in blocks:
        names = re.findall(r"^def (test_\w+)\(", block, flags=re.MULTILINE)
        assert names, f"a README example without a test function:\n{block}"
        source = HERE / f"{names[0]}.py"
        assert source.exists(), f"README example {names[0]} has no tests/examples/{names[0]}.py"
        assert block in source.read_text(), f"tests/examples/{names[0]}.py no longer holds the README example"
