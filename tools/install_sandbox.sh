#!/usr/bin/env bash
# Install bubblewrap (Debian's `bubblewrap`), the sandbox in which autograding runs each learner's
# kernel (grading/sandbox.py), where it is missing and this user may install packages. Never fails
# the set-up: without it, tools/grade.py prepare refuses to make a course unless --no-sandbox is
# given, and the test of the sandbox is skipped with a message saying why.
set -u
if command -v bwrap >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing bubblewrap for sandboxed autograding…"
  (DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bubblewrap || \
   (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bubblewrap)) \
    >/tmp/install_sandbox.log 2>&1 || echo "could not install bubblewrap (see /tmp/install_sandbox.log)"
else
  echo "bubblewrap is not installed and cannot be installed here: autograding needs it (or --no-sandbox)"
fi
exit 0
