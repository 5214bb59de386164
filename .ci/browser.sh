#!/usr/bin/env bash
# Headless Chromium for the admin's browser tests (tests_browser/), from the
# Debian package: Playwright drives it through executable_path and never
# downloads a browser of its own.  Safe to run again.
set -euo pipefail

if ! command -v chromium >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends chromium fonts-dejavu-core
fi
chromium --version
