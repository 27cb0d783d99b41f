#!/usr/bin/env bash
# Rebuilds playground/dist/ (committed; embedded by the Rust server). Needs Node >= 20.19 and npm.
set -euo pipefail
cd "$(dirname "$0")"
npm ci --no-audit --no-fund
npm run build
# Precompressed copies (.gz, .br) that the server sends to clients accepting them.
node compress.mjs
