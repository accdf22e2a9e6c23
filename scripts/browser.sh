#!/usr/bin/env bash
# Debian's Chromium for the server's browser test (tests/lean/test_serve_browser.py), installed
# as the system libraries are (scripts/system_libs.sh): with apt-get when run as root, from the
# machine's configured package sources. Without root or apt it says so and exits 1; the test
# then skips with that reason.
set -euo pipefail
command -v chromium >/dev/null && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "installing Debian's chromium for the browser test"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null
else
  echo "chromium is not installed and cannot be installed here (needs root and apt-get): sudo apt-get install -y chromium" >&2
  exit 1
fi
