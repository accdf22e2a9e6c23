"""The README's "load them from your own code" snippets run as written."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import cv2
import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_readme_loading_snippets_classify_a_face(tmp_path):
    blocks = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), re.S)
    assert len(blocks) >= 2
    portrait = cv2.imread(str(ROOT / "runtime" / "assets" / "astronaut.png"))
    if portrait is None:
        pytest.skip("the demo portrait is fetched by 'make setup-runtime'")
    face = tmp_path / "face.jpg"
    cv2.imwrite(str(face), portrait[50:210, 160:320])  # the astronaut's (smiling) face
    code = (blocks[0] + blocks[1]).replace('"face.jpg"', repr(str(face)))
    code += "\nprint('LABEL', card['labels'][int(probs.argmax())], round(float(probs.sum()), 2))\n"
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    label, total = r.stdout.split("LABEL ")[-1].split()
    assert label == "happy" and abs(float(total) - 1) < 0.05


def shell_commands(text: str) -> list[str]:
    """The command lines of a page's bash blocks, continuation lines joined."""
    lines = []
    for block in re.findall(r"```(?:bash|sh)\n(.*?)```", text, re.S):
        lines += [line.strip() for line in block.replace("\\\n", " ").splitlines()]
    return [line for line in lines if line and not line.startswith("#")]


def test_readme_commands_name_the_python_that_has_their_dependencies():
    """`python -m train ...` with the system Python fails (no cv2, no TensorFlow): every
    command names the environment's Python that make created."""
    text = (ROOT / "README.md").read_text()
    commands = shell_commands(text) + re.findall(r"`([^`\n]*python[^`\n]* -m [^`\n]*)`", text)
    runs = [c for c in commands if re.search(r"(^|\s|/)python3? -m (?!venv\b)", c)]
    assert runs, "the README shows no python command at all"
    bare = [c for c in runs if not re.match(r"\.venv-(train|runtime)/bin/python -m ", c)]
    assert not bare, bare


def test_readme_flag_table_is_the_one_the_options_record_makes():
    """Defaults, profile values and help live in runtime/options.py; the README's table is
    generated from them (``python scripts/options_table.py --write`` after a change)."""
    sys.path.insert(0, str(ROOT / "scripts"))
    import options_table

    readme = (ROOT / "README.md").read_text()
    assert options_table.replaced(readme, options_table.table_text()) == readme
    assert "| `--profile laptop\\|pi` |" in readme and "| `--threads N` | `1` | 2 |" in readme
