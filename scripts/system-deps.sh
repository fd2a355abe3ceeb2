#!/usr/bin/env bash
# Debian packages the test suite drives as real outside tools: Chromium for the browser tests (never a
# downloaded browser), poppler's pdfsig to check signed PDFs, and fonts so pages in Korean, Japanese, Chinese
# and Thai render as text (not boxes) in the browser tests' screenshots. Installed only when missing; needs root.
set -euo pipefail
missing=()
command -v chromium >/dev/null || missing+=(chromium)
command -v pdfsig >/dev/null && command -v pdftotext >/dev/null && command -v pdffonts >/dev/null || missing+=(poppler-utils)
command -v openssl >/dev/null || missing+=(openssl)
fc-list :lang=ko 2>/dev/null | grep -q . || missing+=(fonts-noto-cjk)
fc-list :lang=th 2>/dev/null | grep -q . || missing+=(fonts-thai-tlwg)
if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "missing Debian packages: ${missing[*]} (run: sudo apt-get install ${missing[*]})" >&2
    exit 1
fi
echo "installing Debian packages: ${missing[*]}"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
