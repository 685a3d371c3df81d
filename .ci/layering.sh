#!/usr/bin/env bash
# House rule (STYLE.md habit 1): the protocol and pricing layers know nothing of the proxy, the
# stores, the admin listener, the CLI or Pingora. Fails on the first import that points the wrong way.
set -euo pipefail
cd "$(dirname "$0")/.."
pure="src/x402 src/price src/routes src/evm src/access src/toll src/rfc3339.rs"
if hits=$(grep -rnE 'use (crate::(proxy|store|admin|cli|config|maintenance|snapshot)|pingora)|pingora::' $pure); then
  echo "layering: these pure modules import the proxy side:" >&2
  echo "$hits" >&2
  exit 1
fi
missing=$(for f in $(git ls-files 'src/*.rs' 'benches/*.rs' 'tests/*.rs'); do head -n 1 "$f" | grep -q '^//!' || echo "$f"; done)
missing=$(echo "$missing" | grep -v -E '/tests\.rs$|^$' || true)
if [ -n "$missing" ]; then
  echo "layering: files without a //! module doc on their first line:" >&2
  echo "$missing" >&2
  exit 1
fi
echo "layering: ok"
