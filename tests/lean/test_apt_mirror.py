"""scripts/apt_mirror.sh, the Debian mirror the emulation scripts take from this machine's apt
sources: run against generated sources.list / sources.list.d folders (one-line and deb822)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HELPER = ROOT / "scripts" / "apt_mirror.sh"
MAIN = "http://mirror.example.net/debian"
SECURITY = "http://security.example.net/debian-security"

pytestmark = pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")


def run_helper(etc: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if k != "DEBIAN_MIRROR"}
    environ.update(APT_ETC=str(etc), **env)
    return subprocess.run(
        ["bash", str(HELPER)], capture_output=True, text=True, env=environ, timeout=30, check=False
    )


def write(etc: Path, name: str, text: str) -> None:
    path = etc / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_one_line_sources_list_skips_security_source_and_comments(tmp_path):
    write(
        tmp_path,
        "sources.list",
        "# deb http://old.example.net/debian bookworm main\n"
        f"deb {SECURITY} bookworm-security main\n"
        f"deb-src {MAIN}-src bookworm main\n"
        "deb http://elsewhere.example.net/apt stable main\n"
        f"deb [arch=amd64 signed-by=/usr/share/keyrings/k.gpg] {MAIN}/ bookworm main  # the archive\n"
        "deb http://second.example.net/debian bookworm main\n",
    )
    r = run_helper(tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stdout == MAIN + "\n"


def test_deb822_sources_skips_security_disabled_and_deb_src(tmp_path):
    write(
        tmp_path,
        "sources.list.d/debian.sources",
        "Types: deb\n"
        f"# {MAIN}-commented\n"
        f"URIs: {SECURITY}\n"
        "Suites: bookworm-security\n"
        "Components: main\n"
        "\n"
        "Types: deb\n"
        "URIs: http://disabled.example.net/debian\n"
        "Suites: bookworm\n"
        "Enabled: no\n"
        "\n"
        "Types: deb-src\n"
        "URIs: http://src.example.net/debian\n"
        "Suites: bookworm\n"
        "\n"
        "Types: deb deb-src\n"
        "URIs:\n"
        f" {MAIN}\n"
        " http://second.example.net/debian\n"
        "Suites: bookworm bookworm-updates\n"
        "Components: main\n"
        "Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n",
    )
    r = run_helper(tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stdout == MAIN + "\n"


def test_last_stanza_without_trailing_blank_line_and_mixed_folder(tmp_path):
    # sources.list only commented, a third-party .list first, the archive in a .sources file.
    write(tmp_path, "sources.list", f"# deb {MAIN}-old bookworm main\n")
    write(tmp_path, "sources.list.d/a-vendor.list", "deb https://vendor.example.net/apt stable main\n")
    write(tmp_path, "sources.list.d/b-vendor.sources.disabled", f"Types: deb\nURIs: {MAIN}-x\nSuites: a\n")
    write(tmp_path, "sources.list.d/debian.sources", f"Types: deb\nURIs: {MAIN}\nSuites: bookworm")
    r = run_helper(tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stdout == MAIN + "\n"


@pytest.mark.parametrize("only_security", [False, True])
def test_missing_source_fails_with_one_line_error(tmp_path, only_security):
    if only_security:
        write(tmp_path, "sources.list", f"deb {SECURITY} bookworm-security main\n")
        write(
            tmp_path, "sources.list.d/s.sources", f"Types: deb\nURIs: {SECURITY}\nSuites: bookworm-security\n"
        )
    r = run_helper(tmp_path)
    assert r.returncode != 0
    assert r.stdout == ""
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith("error:") and "DEBIAN_MIRROR" in lines[0] and str(tmp_path) in lines[0]


def test_override_wins(tmp_path):
    write(tmp_path, "sources.list", f"deb {MAIN} bookworm main\n")
    r = run_helper(tmp_path, DEBIAN_MIRROR="http://override.example.net/debian/")
    assert r.returncode == 0, r.stderr
    assert r.stdout == "http://override.example.net/debian\n"


def test_scripts_parse_and_use_the_helper():
    scripts = ("apt_mirror.sh", "qemu_trixie.sh", "arm64_root.sh", "emulate_aarch64.sh", "count_aarch64.sh")
    for name in scripts:
        script = ROOT / "scripts" / name
        assert subprocess.run(["bash", "-n", str(script)], check=False).returncode == 0, name
        assert "http://deb." not in script.read_text(), name
    # Every script that fetches from Debian asks the helper for the mirror (directly, or through
    # qemu_trixie.sh, which sources it).
    for name in ("qemu_trixie.sh", "arm64_root.sh", "count_aarch64.sh"):
        text = (ROOT / "scripts" / name).read_text()
        assert "debian_mirror" in text and ("apt_mirror.sh" in text or "qemu_trixie.sh" in text), name
    assert "arm64_root.sh" in (ROOT / "scripts" / "emulate_aarch64.sh").read_text()
