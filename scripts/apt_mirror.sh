# Sourced by the emulation scripts (or run: `bash scripts/apt_mirror.sh` prints the URL): the
# Debian archive mirror this machine's apt is configured with, so that the scripts fetch from the
# same mirror and change only the suite. The first `deb` line (sources.list, then
# sources.list.d/*.list) or deb822 `URIs:` entry (sources.list.d/*.sources) of type deb whose
# path ends in /debian (a snapshot's /debian/<date> too) and whose suite is not a security one
# is taken; deb-src, disabled (Enabled: no), commented and security entries are skipped.
# DEBIAN_MIRROR overrides it; APT_ETC (default /etc/apt) is where the sources are read from.
debian_mirror() {
  if [ -n "${DEBIAN_MIRROR:-}" ]; then echo "${DEBIAN_MIRROR%/}"; return 0; fi
  local etc=${APT_ETC:-/etc/apt} f url=
  local files=()
  [ -f "$etc/sources.list" ] && files+=("$etc/sources.list")
  for f in "$etc"/sources.list.d/*; do
    case $f in *.list | *.sources) [ -f "$f" ] && files+=("$f") ;; esac
  done
  if [ ${#files[@]} -gt 0 ]; then
    url=$(awk '
      function ismain(uri, suites,   n, s, i) {
        if (uri !~ /^[a-z0-9+]+:\/\/[^\/]*(\/[^ \t]*)?\/debian(\/[0-9]+T[0-9]+Z)?\/?$/) return 0
        n = split(suites, s, /[ \t]+/)
        for (i = 1; i <= n; i++) if (s[i] != "" && s[i] !~ /(-security|\/updates)$/) return 1
        return 0
      }
      function take(uri) { sub(/\/+$/, "", uri); print uri; found = 1; exit }
      function stanza(   n, t, u, i, isdeb) {
        if (f["uris"] != "" && tolower(f["enabled"]) !~ /^[ \t]*no[ \t]*$/) {
          isdeb = 0
          n = split(f["types"], t, /[ \t]+/)
          for (i = 1; i <= n; i++) if (t[i] == "deb") isdeb = 1
          n = split(f["uris"], u, /[ \t]+/)
          for (i = 1; isdeb && i <= n; i++) if (u[i] != "" && ismain(u[i], f["suites"])) take(u[i])
        }
        split("", f); field = ""
      }
      FNR == 1 { if (deb822) stanza(); deb822 = FILENAME ~ /\.sources$/ }
      deb822 {
        if ($0 ~ /^#/) next
        if ($0 ~ /^[ \t]*$/) { stanza(); next }
        if ($0 ~ /^[ \t]/) { if (field != "") f[field] = f[field] " " $0; next }
        c = index($0, ":"); if (!c) next
        field = tolower(substr($0, 1, c - 1)); f[field] = f[field] " " substr($0, c + 1)
        next
      }
      {
        sub(/#.*/, ""); gsub(/\[[^]]*\]/, " "); $0 = $0
        if ($1 == "deb" && NF >= 3 && ismain($2, $3)) take($2)
      }
      END { if (!found && deb822) stanza() }
    ' "${files[@]}")
  fi
  if [ -z "$url" ]; then
    echo "error: no Debian archive entry (a 'deb' line or 'URIs:' ending in /debian, not security) in $etc/sources.list or $etc/sources.list.d/; set DEBIAN_MIRROR to a Debian mirror URL" >&2
    return 2
  fi
  echo "$url"
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  set -euo pipefail
  debian_mirror
fi
