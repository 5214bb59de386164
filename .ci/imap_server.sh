#!/usr/bin/env bash
# Dovecot for the IMAP tests (imports/tests/test_imap.py).
#
#   .ci/imap_server.sh install   install dovecot-imapd from the Debian packages (safe to repeat)
#   .ci/imap_server.sh check     exit 0 when dovecot is installed, 1 when not
#
# The tests start and stop their own throwaway server (a temporary config, users
# and maildirs, on 127.0.0.1 and a free port); the system-wide service is not
# wanted, so it is stopped if the package started it.
set -euo pipefail

installed() {
  PATH="$PATH:/usr/sbin:/sbin" command -v dovecot >/dev/null 2>&1 && [ -x /usr/lib/dovecot/imap ]
}

case "${1:-}" in
  install)
    if ! installed; then
      export DEBIAN_FRONTEND=noninteractive
      apt-get update -q
      apt-get install -y -q --no-install-recommends dovecot-imapd
    fi
    if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet dovecot 2>/dev/null; then
      systemctl stop dovecot
      systemctl disable dovecot >/dev/null 2>&1 || true
    fi
    PATH="$PATH:/usr/sbin:/sbin" dovecot --version
    ;;
  check)
    installed
    ;;
  *)
    echo "usage: $0 install|check" >&2
    exit 64
    ;;
esac
