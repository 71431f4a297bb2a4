#!/usr/bin/env bash
# Install headless Chromium and ChromeDriver from Debian's packages for the browser test of the
# book, where they are missing and this user may install packages. Never fails the set-up: the
# browser test skips with a clear message when Chromium cannot be had.
set -u
if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing chromium and chromium-driver for the browser test…"
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver) \
    >/tmp/install_browser.log 2>&1 || echo "could not install chromium (see /tmp/install_browser.log)"
else
  echo "chromium is not installed and cannot be installed here: the browser test will be skipped"
fi
exit 0
