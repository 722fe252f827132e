#!/usr/bin/env bash
# Installs the Debian packages whose English prose `matquant corpus build` turns into a C4-style
# corpus (see docs/corpus.md for why these). All are in Debian main and text only: GNU info manuals
# (long, edited prose with light markup), HTML manuals (PostgreSQL, Python, Debian guides), the
# Jargon File. Idempotent: a second run only checks.
set -euo pipefail
CORPUS_PACKAGES=(
  # GNU info manuals (/usr/share/info/*.info*.gz)
  gawk bison flex m4 autoconf automake libtool-doc gnu-standards bash-doc r-doc-info guile-3.0-doc sbcl-doc
  # HTML manuals (/usr/share/doc/...): tutorials and reference prose
  postgresql-doc-15 python3.11-doc debian-reference-en developers-reference maint-guide
  # Plain text books
  jargon-text
  # Manual pages are already on every Debian machine (section 1, 5, 8 pages of installed packages).
  man-db
)

missing=()
for package in "${CORPUS_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if ((${#missing[@]})); then
  echo "[install-corpus-sources] installing: ${missing[*]}"
  SUDO=""; [[ $(id -u) -ne 0 ]] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# Docker-style images exclude documentation from installed packages; say so instead of building an
# empty corpus.
if [[ -f /etc/dpkg/dpkg.cfg.d/excludes ]] && grep -q "path-exclude=/usr/share/doc" /etc/dpkg/dpkg.cfg.d/excludes; then
  echo "[install-corpus-sources] warning: /etc/dpkg/dpkg.cfg.d/excludes drops /usr/share/doc, info or man files;" \
       "remove it and reinstall the packages above (apt-get install --reinstall) to get their text" >&2
fi
echo "[install-corpus-sources] ok"
