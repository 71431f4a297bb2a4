#!/usr/bin/env bash
# Install headless Chromium and ChromeDriver from Debian's packages (and axe-core from npm) for
# the browser test of the book, where they are missing and this user may install packages. Never fails the set-up: the
# browser test skips with a clear message when Chromium cannot be had.
set -u
# axe-core, the accessibility audit the browser test injects into each page (from the npm
# registry, pinned; where npm is missing that one test is skipped and says why).
AXE_VERSION=4.14.1
AXE_DIR=.cache/axe-core-$AXE_VERSION
if [ ! -f "$AXE_DIR/node_modules/axe-core/axe.min.js" ] && command -v npm >/dev/null 2>&1; then
  mkdir -p "$AXE_DIR"
  npm install --prefix "$AXE_DIR" "axe-core@$AXE_VERSION" --no-audit --no-fund --silent \
    >/tmp/install_axe.log 2>&1 || echo "could not install axe-core (see /tmp/install_axe.log)"
fi
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
