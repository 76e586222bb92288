"""docs/python.md shows python/examples/fashion_mnist.py in full: the block after the
example marker must be that file, so the documented example is the one that was run."""

import os
import re

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_docs_example_is_the_committed_file():
    with open(os.path.join(REPO, "docs", "python.md"), encoding="utf-8") as f:
        docs = f.read()
    m = re.search(r"<!-- example: (\S+) -->\n```python\n(.*?)```\n", docs, re.S)
    assert m, "docs/python.md has no '<!-- example: FILE -->' block"
    with open(os.path.join(REPO, m.group(1)), encoding="utf-8") as f:
        assert m.group(2) == f.read()
