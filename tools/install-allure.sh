#!/usr/bin/env bash
# Install the Allure 2 command line into .tools/allure (project-local) from the npm registry.
# Idempotent: returns at once when the pinned version is already there. Needs npm; the report
# generation needs Java 17+. Override the version with ALLURE_VERSION.
set -euo pipefail
cd "$(dirname "$0")/.."

version="${ALLURE_VERSION:-2.46.1}"
dest=".tools/allure"
bin="$dest/node_modules/.bin/allure"

if [ -x "$bin" ] && [ "$("$bin" --version 2>/dev/null || true)" = "$version" ]; then
    echo "install-allure: allure $version already in $dest"
    exit 0
fi
if ! command -v npm >/dev/null 2>&1; then
    echo "install-allure: npm not found; install Node.js and npm (e.g. apt-get install -y npm) and rerun" >&2
    exit 1
fi
if ! command -v java >/dev/null 2>&1 && [ ! -x "${JAVA_HOME:-/nonexistent}/bin/java" ]; then
    echo "install-allure: java not found; Allure 2 needs Java 17+ (e.g. apt-get install -y openjdk-17-jre-headless)" >&2
    exit 1
fi

mkdir -p "$dest"
# The package ships the whole Allure distribution (jar and launcher); nothing else is downloaded.
npm install --prefix "$dest" --no-audit --no-fund --no-save --loglevel=error "allure-commandline@$version" >&2
installed="$("$bin" --version 2>/dev/null || true)"
if [ "$installed" != "$version" ]; then
    echo "install-allure: $bin reports version '${installed}', expected $version" >&2
    exit 1
fi
echo "install-allure: allure $installed installed in $dest"
