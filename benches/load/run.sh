#!/usr/bin/env bash
# Load benchmark: x402-gateway vs nginx, side by side, on 127.0.0.1 only.
#
#   1. "402 challenge": the gateway's priced route vs nginx `return 402` sending the same status,
#      headers and body (copied from a real gateway 402 fetched first).
#   2. "free route":    a ~1 KiB static file from an origin nginx, proxied by nginx `proxy_pass`
#      (upstream keepalive) vs by the gateway's free route.
#   3. "pass":          the same file on a priced route, each request carrying a valid access pass
#      (`X402-Pass`, minted with `x402-gateway pass`), vs nginx's free proxy; compare with the
#      gateway's free-route row of the same run for what the pass check costs.
#   4. "toll booth on": the same 402 from a second gateway whose `[toll_booth]` is on, asked by a
#      plain agent (classified, then the route's own 402) and by GPTBot (charged its crawler price:
#      `crawler-price` and the re-priced offers); compare with row 1 for what the toll booth costs.
#
# Each pair is measured back to back with `wrk --latency`, RUNS times. Prints a markdown table.
# Knobs (env): DURATION (5s), CONNECTIONS (32), WRK_THREADS (1), WARMUP (1s, 0 = none), RUNS (2),
#   PIN (1: servers on SERVER_CPU, wrk on CLIENT_CPU via taskset; 0: no pinning),
#   SERVER_CPU (0), CLIENT_CPU (1), GW_LOG (RUST_LOG for the gateway: warn),
#   SKIP_BUILD (0), KEEP_RAW (a directory to copy raw wrk outputs and logs into).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)

DURATION=${DURATION:-5s}
CONNECTIONS=${CONNECTIONS:-32}
WRK_THREADS=${WRK_THREADS:-1}
WARMUP=${WARMUP:-1s}
RUNS=${RUNS:-2}
PIN=${PIN:-1}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
GW_LOG=${GW_LOG:-warn}
SKIP_BUILD=${SKIP_BUILD:-0}
KEEP_RAW=${KEEP_RAW:-}
PAID_PATH=/paid/item
FREE_PATH=/1k.txt
PASS_PATH=/pass/1k.txt
# A bench-only key for the gateway's passes (not a secret of anything).
export X402_ACCESS_KEYS="bench=bench-access-key-0123456789abcdef"

log() { printf '[load] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

# --- dependencies -------------------------------------------------------------------------------
install_missing() {
    local need=()
    command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || need+=(nginx)
    command -v wrk >/dev/null 2>&1 || need+=(wrk)
    command -v curl >/dev/null 2>&1 || need+=(curl)
    command -v python3 >/dev/null 2>&1 || need+=(python3)
    command -v taskset >/dev/null 2>&1 || need+=(util-linux)
    [ ${#need[@]} -eq 0 ] && return 0
    local sudo=()
    if [ "$(id -u)" -ne 0 ]; then
        command -v sudo >/dev/null 2>&1 || die "missing ${need[*]} and not root"
        sudo=(sudo)
    fi
    log "installing: ${need[*]}"
    "${sudo[@]}" apt-get update -qq
    local pkgs=() p
    for p in "${need[@]}"; do
        if [ "$p" = nginx ]; then
            # nginx-light is enough (no extra modules used); fall back to nginx where it is gone.
            if apt-cache show nginx-light >/dev/null 2>&1; then p=nginx-light; fi
        fi
        pkgs+=("$p")
    done
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >&2
}
install_missing
NGINX=$(command -v nginx || echo /usr/sbin/nginx)

PIN_SERVER=()
PIN_CLIENT=()
if [ "$PIN" = 1 ] && [ "$(nproc)" -ge 2 ]; then
    PIN_SERVER=(taskset -c "$SERVER_CPU")
    PIN_CLIENT=(taskset -c "$CLIENT_CPU")
fi

# --- build --------------------------------------------------------------------------------------
GATEWAY=${CARGO_TARGET_DIR:-$ROOT/target}/release/x402-gateway
if [ "$SKIP_BUILD" != 1 ]; then
    log "building the gateway (release)"
    (cd "$ROOT" && cargo build --release --bin x402-gateway >&2)
fi
[ -x "$GATEWAY" ] || die "no gateway binary at $GATEWAY"

# --- ports, temp dir, cleanup -------------------------------------------------------------------
free_ports() { # N -> N free 127.0.0.1 ports
    if command -v python3 >/dev/null 2>&1; then
        python3 - "$1" <<'PY'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
PY
    else
        local out=() p
        while [ ${#out[@]} -lt "$1" ]; do
            p=$((20000 + RANDOM % 40000))
            if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null && [[ " ${out[*]} " != *" $p "* ]]; then
                out+=("$p")
            fi
        done
        echo "${out[*]}"
    fi
}
read -r GW_PORT ADMIN_PORT NGINX_PORT ORIGIN_PORT TOLL_PORT TOLL_ADMIN_PORT < <(free_ports 6)

TMP=$(mktemp -d /tmp/x402-load.XXXXXX)
PIDS=()
cleanup() {
    local rc=$? pid
    for pid in "${PIDS[@]}"; do
        # SIGINT: fast shutdown for Pingora; SIGQUIT would be nginx's graceful one, TERM is fast.
        kill -INT "$pid" 2>/dev/null || true
    done
    for pid in "${PIDS[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    if [ -n "$KEEP_RAW" ]; then
        mkdir -p "$KEEP_RAW" && cp -r "$TMP"/. "$KEEP_RAW"/ 2>/dev/null || true
    fi
    rm -rf "$TMP"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Fills @NAME@ placeholders: render TEMPLATE OUT NAME=VALUE...
render() {
    local text kv
    text=$(<"$1")
    shift
    local out=$1
    shift
    for kv in "$@"; do
        text=${text//"@${kv%%=*}@"/"${kv#*=}"}
    done
    printf '%s\n' "$text" >"$out"
}

wait_for() { # DESCRIPTION PID COMMAND...
    local what=$1 pid=$2 i
    shift 2
    for i in $(seq 1 300); do
        if "$@" >/dev/null 2>&1; then return 0; fi
        kill -0 "$pid" 2>/dev/null || die "$what exited during startup (logs in $TMP)"
        sleep 0.1
    done
    die "$what not ready after 30s"
}

# --- origin -------------------------------------------------------------------------------------
mkdir -p "$TMP/www"
python3 -c 'import sys; sys.stdout.write(("x402 load bench origin payload " * 40)[:1023] + "\n")' >"$TMP/www/1k.txt" 2>/dev/null ||
    { head -c 1023 /dev/zero | tr '\0' 'x'; echo; } >"$TMP/www/1k.txt"
mkdir -p "$TMP/www/pass" && cp "$TMP/www/1k.txt" "$TMP/www/pass/1k.txt"
render "$HERE/origin.nginx.conf.tmpl" "$TMP/origin.conf" TMP="$TMP" ORIGIN_PORT="$ORIGIN_PORT"
"${PIN_SERVER[@]}" "$NGINX" -c "$TMP/origin.conf" -p "$TMP" -g 'daemon off;' 2>>"$TMP/origin-stderr.log" &
PIDS+=($!)
wait_for "origin nginx" "${PIDS[-1]}" curl -fsS "http://127.0.0.1:$ORIGIN_PORT$FREE_PATH"

# --- gateway ------------------------------------------------------------------------------------
render "$HERE/gateway.toml.tmpl" "$TMP/gateway.toml" \
    GW_PORT="$GW_PORT" ADMIN_PORT="$ADMIN_PORT" ORIGIN_PORT="$ORIGIN_PORT"
RUST_LOG=$GW_LOG "${PIN_SERVER[@]}" "$GATEWAY" run --config "$TMP/gateway.toml" >"$TMP/gateway.log" 2>&1 &
PIDS+=($!)
GW_PID=${PIDS[-1]}
gw_healthy() { curl -fsS "http://127.0.0.1:$ADMIN_PORT/healthz" | grep -q '^ok'; }
wait_for gateway "$GW_PID" gw_healthy
# The same config with the toll booth on, for the "toll booth on" rows.
render "$HERE/gateway.toml.tmpl" "$TMP/gateway-toll.toml" \
    GW_PORT="$TOLL_PORT" ADMIN_PORT="$TOLL_ADMIN_PORT" ORIGIN_PORT="$ORIGIN_PORT"
cat "$HERE/toll.toml" >>"$TMP/gateway-toll.toml"
RUST_LOG=$GW_LOG "${PIN_SERVER[@]}" "$GATEWAY" run --config "$TMP/gateway-toll.toml" >"$TMP/gateway-toll.log" 2>&1 &
PIDS+=($!)
TOLL_PID=${PIDS[-1]}
toll_healthy() { curl -fsS "http://127.0.0.1:$TOLL_ADMIN_PORT/healthz" | grep -q '^ok'; }
wait_for "toll gateway" "$TOLL_PID" toll_healthy
CRAWLER_UA="Mozilla/5.0 (compatible; GPTBot/1.2; +https://openai.com/gptbot)"
curl -s -D "$TMP/toll-402.headers" -o /dev/null -A "$CRAWLER_UA" "http://127.0.0.1:$TOLL_PORT$PAID_PATH"
grep -qi '^crawler-price: USD 0.02' "$TMP/toll-402.headers" || die "the toll gateway did not charge GPTBot its price"
PASS=$("$GATEWAY" pass --config "$TMP/gateway.toml" --route pass --payer 0x857b06519E91e3A54538791bDbb0E22373e36b66 --ttl-secs 86400)
curl -fsS -o "$TMP/pass.body" -H "X402-Pass: $PASS" "http://127.0.0.1:$GW_PORT$PASS_PATH" ||
    die "the gateway refused the bench pass"
cmp -s "$TMP/www/1k.txt" "$TMP/pass.body" || die "the pass route returned other bytes"

# --- copy one real 402 into the nginx config ----------------------------------------------------
curl -s -D "$TMP/gw-402.headers" -o "$TMP/gw-402.body" "http://127.0.0.1:$GW_PORT$PAID_PATH"
status=$(head -n1 "$TMP/gw-402.headers" | awk '{print $2}')
[ "$status" = 402 ] || die "gateway answered $status on $PAID_PATH, expected 402"
hdr() { grep -i "^$1:" "$TMP/gw-402.headers" | head -n1 | cut -d: -f2- | sed 's/^ *//' | tr -d '\r'; }
esc_dq() { local s=$1; s=${s//\\/\\\\}; s=${s//\"/\\\"}; s=${s//\$/\$\{dollar\}}; printf '%s' "$s"; }
esc_sq() { local s=$1; s=${s//\\/\\\\}; s=${s//\'/\\\'}; s=${s//\$/\$\{dollar\}}; printf '%s' "$s"; }
# $(<file) would drop a trailing newline; keep the body byte-exact.
BODY=$(cat "$TMP/gw-402.body"; printf .)
BODY=${BODY%.}
render "$HERE/nginx.conf.tmpl" "$TMP/nginx.conf" TMP="$TMP" NGINX_PORT="$NGINX_PORT" ORIGIN_PORT="$ORIGIN_PORT" \
    CONTENT_TYPE="$(esc_dq "$(hdr content-type)")" \
    PAYMENT_REQUIRED="$(esc_dq "$(hdr payment-required)")" \
    CACHE_CONTROL="$(esc_dq "$(hdr cache-control)")" \
    ACAO="$(esc_dq "$(hdr access-control-allow-origin)")" \
    ACEH="$(esc_dq "$(hdr access-control-expose-headers)")" \
    BODY="$(esc_sq "$BODY")"
"$NGINX" -t -q -c "$TMP/nginx.conf" -p "$TMP" 2>>"$TMP/nginx-stderr.log" || die "nginx config test failed: $(cat "$TMP/nginx-stderr.log")"
"${PIN_SERVER[@]}" "$NGINX" -c "$TMP/nginx.conf" -p "$TMP" -g 'daemon off;' 2>>"$TMP/nginx-stderr.log" &
PIDS+=($!)
wait_for nginx "${PIDS[-1]}" curl -fsS "http://127.0.0.1:$NGINX_PORT$FREE_PATH"

# --- sanity: same 402 bytes, same free-route body -----------------------------------------------
curl -s -D "$TMP/ngx-402.headers" -o "$TMP/ngx-402.body" "http://127.0.0.1:$NGINX_PORT$PAID_PATH"
cmp -s "$TMP/gw-402.body" "$TMP/ngx-402.body" || die "nginx 402 body differs from the gateway's"
norm() { tr -d '\r' <"$1" | grep -v -i -E '^(date|server|connection):' | grep -v '^$' | tr 'A-Z' 'a-z' | sort; }
if ! diff <(norm "$TMP/gw-402.headers") <(norm "$TMP/ngx-402.headers") >"$TMP/402-header-diff.txt"; then
    log "402 headers differ beyond Date/Server/Connection:"
    cat "$TMP/402-header-diff.txt" >&2
fi
for port in "$GW_PORT" "$NGINX_PORT"; do
    curl -fsS -o "$TMP/free.$port" "http://127.0.0.1:$port$FREE_PATH"
    cmp -s "$TMP/www/1k.txt" "$TMP/free.$port" || die "free route on port $port returned other bytes"
done
resp_size() { # HEADERS BODY -> total bytes on the wire (approximately: headers as received + body)
    echo $(($(wc -c <"$1") + $(wc -c <"$2")))
}
curl -s -D "$TMP/gw-free.headers" -o /dev/null "http://127.0.0.1:$GW_PORT$FREE_PATH"
curl -s -D "$TMP/ngx-free.headers" -o /dev/null "http://127.0.0.1:$NGINX_PORT$FREE_PATH"
SIZES="402: gateway $(resp_size "$TMP/gw-402.headers" "$TMP/gw-402.body") B, nginx $(resp_size "$TMP/ngx-402.headers" "$TMP/ngx-402.body") B; \
free: gateway $(resp_size "$TMP/gw-free.headers" "$TMP/www/1k.txt") B, nginx $(resp_size "$TMP/ngx-free.headers" "$TMP/www/1k.txt") B"

# --- load ---------------------------------------------------------------------------------------
# parse_wrk FILE -> "rps p50_ms p99_ms requests non2xx socket_errors"
parse_wrk() {
    awk '
        function ms(v) {
            if (v ~ /us$/) { sub(/us$/, "", v); return v / 1000 }
            if (v ~ /ms$/) { sub(/ms$/, "", v); return v + 0 }
            if (v ~ /m$/)  { sub(/m$/, "", v);  return v * 60000 }
            if (v ~ /s$/)  { sub(/s$/, "", v);  return v * 1000 }
            return v + 0
        }
        /^ +50%/ { p50 = ms($2) }
        /^ +99%/ { p99 = ms($2) }
        / requests in / { total = $1 }
        /Non-2xx or 3xx responses:/ { non2xx = $NF }
        /Socket errors:/ { gsub(/,/, ""); errs = $4 + $6 + $8 + $10 }
        /^Requests\/sec:/ { rps = $2 }
        END { printf "%s %.3f %.3f %s %d %d\n", rps, p50, p99, total, non2xx, errs }
    ' "$1"
}

load() { # NAME PORT PATH [HEADER] -> raw output in $TMP/wrk-NAME.txt
    local name=$1 port=$2 path=$3 header=()
    [ -n "${4:-}" ] && header=(-H "$4")
    if [ "$WARMUP" != 0 ]; then
        "${PIN_CLIENT[@]}" wrk -t"$WRK_THREADS" -c"$CONNECTIONS" -d"$WARMUP" "${header[@]}" "http://127.0.0.1:$port$path" >/dev/null
    fi
    "${PIN_CLIENT[@]}" wrk -t"$WRK_THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency "${header[@]}" \
        "http://127.0.0.1:$port$path" >"$TMP/wrk-$name.txt"
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }'; }

ROWS=()
for run in $(seq 1 "$RUNS"); do
    for scenario in challenge free pass toll_agent toll_crawler; do
        gw_path=""
        gw_header=""
        gw_port=$GW_PORT
        case $scenario in
            challenge) path=$PAID_PATH; label="402 challenge" ;;
            free) path=$FREE_PATH; label="free route → origin" ;;
            pass) path=$FREE_PATH; gw_path=$PASS_PATH; gw_header="X402-Pass: $PASS"; label="pass → origin (nginx: free)" ;;
            toll_agent) path=$PAID_PATH; gw_port=$TOLL_PORT; gw_header="User-Agent: x402-client/2"; label="402, toll booth on, plain agent" ;;
            toll_crawler) path=$PAID_PATH; gw_port=$TOLL_PORT; gw_header="User-Agent: $CRAWLER_UA"; label="402, toll booth on, GPTBot charged" ;;
        esac
        log "run $run: $label: nginx"
        load "$run-$scenario-nginx" "$NGINX_PORT" "$path"
        log "run $run: $label: gateway"
        load "$run-$scenario-gateway" "$gw_port" "${gw_path:-$path}" "$gw_header"
        read -r n_rps n_p50 n_p99 n_total n_non n_err < <(parse_wrk "$TMP/wrk-$run-$scenario-nginx.txt")
        read -r g_rps g_p50 g_p99 g_total g_non g_err < <(parse_wrk "$TMP/wrk-$run-$scenario-gateway.txt")
        ROWS+=("| $run | $label | nginx | $(printf '%.0f' "$n_rps") | $n_p50 | $n_p99 | $n_total | $n_non | $n_err | | | |")
        ROWS+=("| $run | $label | gateway | $(printf '%.0f' "$g_rps") | $g_p50 | $g_p99 | $g_total | $g_non | $g_err | **$(ratio "$g_rps" "$n_rps")** | $(ratio "$g_p50" "$n_p50") | $(ratio "$g_p99" "$n_p99") |")
    done
done
kill -0 "$GW_PID" 2>/dev/null || die "gateway died during the run (log: $TMP/gateway.log)"
kill -0 "$TOLL_PID" 2>/dev/null || die "toll gateway died during the run (log: $TMP/gateway-toll.log)"

# --- report -------------------------------------------------------------------------------------
pinning="none"
[ ${#PIN_SERVER[@]} -gt 0 ] && pinning="servers (nginx, origin nginx, gateway) on CPU $SERVER_CPU, wrk on CPU $CLIENT_CPU"
echo
echo "wrk -t$WRK_THREADS -c$CONNECTIONS -d$DURATION --latency (warm-up ${WARMUP}); nginx worker_processes 1, gateway threads = 1, RUST_LOG=$GW_LOG; pinning: $pinning"
echo "Response sizes (headers + body): $SIZES"
echo
echo "| run | scenario | server | req/s | p50 (ms) | p99 (ms) | requests | non-2xx/3xx | socket errors | gw/nginx req/s | gw/nginx p50 | gw/nginx p99 |"
echo "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
printf '%s\n' "${ROWS[@]}"
echo
echo "402 rows: every response is a 402, so non-2xx/3xx should equal requests. Free and pass rows: should be 0."
if [ -s "$TMP/gateway.log" ]; then
    log "gateway log (RUST_LOG=$GW_LOG) had $(wc -l <"$TMP/gateway.log") line(s); last ones:"
    tail -n 5 "$TMP/gateway.log" >&2
fi
for f in "$TMP"/nginx-error.log "$TMP"/origin-error.log; do
    if [ -s "$f" ]; then
        log "$(basename "$f"): $(wc -l <"$f") line(s); last ones:"
        tail -n 5 "$f" >&2
    fi
done
