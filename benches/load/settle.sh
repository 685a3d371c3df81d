#!/usr/bin/env bash
# Settled payments per second on anvil with Circle's USDC: Multicall3 batches vs one transaction
# each, same run (benches/settle_batch.rs). Starts the test harness's chain on 127.0.0.1, runs the
# bench against it, stops the chain. Knobs (env): SETTLE_BENCH_N (2000), SETTLE_BENCH_SINGLE_N
# (200), SETTLE_BENCH_BATCH (100), PROFILE (bench; `dev` reuses the test build).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"
[ -d tests/harness/node_modules ] || npm ci --prefix tests/harness --no-audit --no-fund
fifo=$(mktemp -u)
mkfifo "$fifo"
# The stack runs until its stdin closes: keep it open on fd 3.
exec 3> >(cd tests/harness && node stack.mjs --payers 1 > "$fifo")
read -r info < "$fifo"
rm -f "$fifo"
field() { python3 -c "import json,sys; d=json.loads(sys.argv[1]); print($2)" "$info"; }
export SETTLE_BENCH_RPC=$(field "$info" "d['rpc']")
export SETTLE_BENCH_USDC=$(field "$info" "d['usdc']")
export SETTLE_BENCH_PAYER_KEY=$(field "$info" "d['payers'][0]['privateKey']")
# anvil's default account #3: a well-known test key, never a real one.
export SETTLE_BENCH_GAS_KEY=0x7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6
cargo bench --profile "${PROFILE:-bench}" --bench settle_batch
exec 3>&-
