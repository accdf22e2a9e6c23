#!/usr/bin/env bash
# The shared libraries MediaPipe 1.2.x (libEGL, libGLESv2) and the OpenCV build it pulls
# (libGL, GLib) need, which a fresh Debian/Ubuntu machine lacks. Installs them when run as
# root with apt-get (as CI does); otherwise prints the exact command and fails.
set -euo pipefail
declare -A pkg=([libEGL.so.1]=libegl1 [libGLESv2.so.2]=libgles2 [libGL.so.1]=libgl1
                [libglib-2.0.so.0]=libglib2.0-0)
missing=()
for lib in "${!pkg[@]}"; do
  ldconfig -p 2>/dev/null | grep -q "$lib" || missing+=("${pkg[$lib]}")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "installing system libraries for MediaPipe/OpenCV: ${missing[*]}"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
else
  echo "error: MediaPipe/OpenCV need system libraries that are missing: ${missing[*]}" >&2
  echo "       install them with: sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi
