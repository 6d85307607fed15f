import os
import re

from conftest import REPO


def test_the_readme_opens_with_a_worker_of_at_most_15_lines():
    text = open(os.path.join(REPO, "clients", "python", "README.md"), encoding="utf-8").read()
    first = re.search(r"```python\n(.*?)```", text, re.S)
    assert first is not None and text.index("```python") < text.index("\n## ")
    code = first.group(1)
    assert len(code.strip().splitlines()) <= 15
    compile(code, "README.md", "exec")
    assert "worker.run_sync()" in code and "@worker.activity(" in code
