#!/usr/bin/env bash
# Manual check of examples/express against the test OP, with curl only (no gateway).
# Talks to 127.0.0.1 only. Usage: bash examples/express/smoke.sh   (exit 0 = all checks passed)
# Needs: npm ci --prefix tests/op && npm ci --prefix examples/express
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
WORK="$(mktemp -d)"
PIDS=()
cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT

PASS=0
ok()   { PASS=$((PASS + 1)); echo "ok   - $*"; }
fail() { echo "FAIL - $*" >&2; tail -n 20 "$WORK"/*.err >&2 || true; exit 1; }
js()   { node -e 'const d=JSON.parse(require("fs").readFileSync(process.argv[1],"utf8"));const r=eval(process.argv[2]);process.stdout.write(typeof r==="string"?r:JSON.stringify(r))' "$1" "$2"; }
b64url() { openssl base64 -A | tr '+/' '-_' | tr -d '='; }
location() { tr -d '\r' < "$1" | awk 'tolower($1)=="location:"{print $2}' | tail -n 1; }
qparam() { node -e 'const u=new URL(process.argv[1]);process.stdout.write(u.searchParams.get(process.argv[2])??"")' "$1" "$2"; }
wait_line() { # wait_line FILE PREFIX -> rest of the first matching line
  local i
  for i in $(seq 1 100); do
    if grep -q "^$2 " "$1" 2>/dev/null; then sed -n "s/^$2 //p" "$1" | head -n 1; return 0; fi
    sleep 0.1
  done
  return 1
}
C="curl -sS --max-time 10"

# --- the test OP (150 padding roles: an access token of ~9.4 KB, so three sso_at chunks) -------
REDIR="http://127.0.0.1:9/sso/callback"   # nothing listens there: the flow stops at the redirect
OP_BIG_ROLES=150 OP_CLIENTS="[{\"client_id\":\"gw-a\",\"client_secret\":\"gw-a-secret\",\"redirect_uris\":[\"$REDIR\"]}]" \
  node "$ROOT/tests/op/server.mjs" > "$WORK/op.out" 2> "$WORK/op.err" &
PIDS+=($!)
OP="$(wait_line "$WORK/op.out" OP_LISTENING)" || fail "OP did not start"
ISS="$OP/realms/demo"
KC="$ISS/protocol/openid-connect"

# --- a real access token: code flow with PKCE through the OP's login form -----------------------
JAR="$WORK/jar"
VERIFIER="$(openssl rand -base64 48 | tr '+/' '-_' | tr -d '=\n')"
CHALLENGE="$(printf '%s' "$VERIFIER" | openssl dgst -sha256 -binary | b64url)"
$C -c "$JAR" -b "$JAR" -D "$WORK/h1" -o /dev/null \
  "$KC/auth?response_type=code&client_id=gw-a&redirect_uri=$(node -p 'encodeURIComponent(process.argv[1])' "$REDIR")&scope=openid%20profile%20email&state=s1&nonce=n1&code_challenge=$CHALLENGE&code_challenge_method=S256"
LOGIN_URL="$OP$(location "$WORK/h1")"
$C -c "$JAR" -b "$JAR" -o /dev/null "$LOGIN_URL"
$C -c "$JAR" -b "$JAR" -D "$WORK/h2" -o /dev/null --data-urlencode username=alice --data-urlencode password=alice-password "$LOGIN_URL/login"
NEXT="$(location "$WORK/h2")"; [[ "$NEXT" == http* ]] || NEXT="$OP$NEXT"
$C -c "$JAR" -b "$JAR" -D "$WORK/h3" -o /dev/null "$NEXT"
CODE="$(qparam "$(location "$WORK/h3")" code)"
[[ -n "$CODE" ]] || fail "no code: $(location "$WORK/h3")"
$C -o "$WORK/tok.json" -u gw-a:gw-a-secret -d grant_type=authorization_code --data-urlencode "code=$CODE" \
  --data-urlencode "redirect_uri=$REDIR" --data-urlencode "code_verifier=$VERIFIER" "$KC/token"
AT="$(js "$WORK/tok.json" d.access_token)"
[[ "$AT" == *.*.* ]] || fail "token response: $(cat "$WORK/tok.json")"
ok "access token from the OP (${#AT} chars)"

# --- the Express example ------------------------------------------------------------------------
[[ -d "$ROOT/examples/express/node_modules/jose" ]] || fail "run: npm ci --prefix examples/express"
ISSUER="$ISS" PORT=0 node "$ROOT/examples/express/server.mjs" > "$WORK/ex.out" 2> "$WORK/ex.err" &
PIDS+=($!)
EX="$(wait_line "$WORK/ex.out" EXPRESS_LISTENING)" || fail "Express did not start"
[[ "$(wc -l < "$WORK/ex.out")" -eq 1 ]] || fail "more than one stdout line"
ok "Express listening at $EX"

call() { # call OUTFILE [curl args...] -> prints status
  local out="$1"; shift
  $C -o "$out" -w '%{http_code}' "$@" "$EX/api/me"
}
# cookie chunks exactly as the gateway cuts them: name+value <= 3800 -> 3791 value chars each
CH0="${AT:0:3791}"; CH1="${AT:3791:3791}"; CH2="${AT:7582}"
[[ -n "$CH2" ]] || fail "token too short to need three chunks"
ST="$(call "$WORK/r1" -H "Cookie: sso_at=$CH0; sso_at.1=$CH1; sso_at.2=$CH2")"
[[ "$ST" == 200 && "$(js "$WORK/r1" d.preferred_username)" == alice && "$(js "$WORK/r1" d.email)" == alice@example.com ]] \
  || fail "chunked cookie: $ST $(cat "$WORK/r1")"
ok "sso_at + sso_at.1 + sso_at.2 cookies -> 200 $(cat "$WORK/r1")"
ST="$(call "$WORK/r2" -H "Authorization: Bearer $AT")"
[[ "$ST" == 200 && "$(js "$WORK/r2" d.preferred_username)" == alice ]] || fail "bearer: $ST $(cat "$WORK/r2")"
ok "Authorization: Bearer -> 200"
ST="$(call "$WORK/r3" -H "Cookie: other=1; sso_at=$AT")"
[[ "$ST" == 200 ]] || fail "single sso_at cookie: $ST $(cat "$WORK/r3")"
ok "one unchunked sso_at cookie -> 200"

ST="$(call "$WORK/r4")"; [[ "$ST" == 401 ]] || fail "no token: $ST"
ok "no token -> 401 $(cat "$WORK/r4")"
# tamper with the payload: flip one character in the middle of the claims
P="${AT#*.}"; P="${P%%.*}"; MID=$(( ${#P} / 2 ))
[[ "${P:$MID:1}" == A ]] && R=B || R=A
BAD="${AT%%.*}.${P:0:$MID}$R${P:$((MID + 1))}.${AT##*.}"
ST="$(call "$WORK/r5" -H "Authorization: Bearer $BAD")"; [[ "$ST" == 401 ]] || fail "tampered bearer: $ST $(cat "$WORK/r5")"
ST="$(call "$WORK/r6" -H "Cookie: sso_at=$BAD")"; [[ "$ST" == 401 ]] || fail "tampered cookie: $ST $(cat "$WORK/r6")"
ok "tampered token (bearer and cookie) -> 401 $(cat "$WORK/r6")"
ST="$(call "$WORK/r7" -H "Cookie: sso_at=$CH0; sso_at.2=$CH2")"; [[ "$ST" == 401 ]] || fail "gap in chunks: $ST"
ok "missing middle chunk -> 401"
# an ID token is a valid JWT from the same issuer, but not an access token
IDT="$(js "$WORK/tok.json" d.id_token)"
ST="$(call "$WORK/r8" -H "Authorization: Bearer $IDT")"; [[ "$ST" == 401 ]] || fail "id token accepted: $ST"
ok "ID token as bearer -> 401"

# ACCEPTED_CLIENTS: a token issued to gw-a is refused by a server that only takes gw-b's
ISSUER="$ISS" PORT=0 ACCEPTED_CLIENTS=gw-b node "$ROOT/examples/express/server.mjs" > "$WORK/ex3.out" 2> "$WORK/ex3.err" &
PIDS+=($!)
EX_SAVED="$EX"; EX="$(wait_line "$WORK/ex3.out" EXPRESS_LISTENING)" || fail "third Express did not start"
ST="$(call "$WORK/r11" -H "Authorization: Bearer $AT")"; [[ "$ST" == 401 ]] || fail "azp not checked: $ST $(cat "$WORK/r11")"
EX="$EX_SAVED"
ok "ACCEPTED_CLIENTS=gw-b refuses a gw-a token -> 401 $(cat "$WORK/r11")"

# OP down: the keys are already cached, a known kid still verifies; a fresh process cannot discover -> 503
kill "${PIDS[0]}"; wait "${PIDS[0]}" 2>/dev/null || true
ST="$(call "$WORK/r9" -H "Authorization: Bearer $AT")"; [[ "$ST" == 200 ]] || fail "cached JWKS: $ST $(cat "$WORK/r9")"
ISSUER="$ISS" PORT=0 node "$ROOT/examples/express/server.mjs" > "$WORK/ex2.out" 2> "$WORK/ex2.err" &
PIDS+=($!)
EX="$(wait_line "$WORK/ex2.out" EXPRESS_LISTENING)" || fail "second Express did not start"
ST="$(call "$WORK/r10" -H "Authorization: Bearer $AT")"; [[ "$ST" == 503 ]] || fail "OP down: $ST $(cat "$WORK/r10")"
ok "OP down: cached keys still verify; no keys yet -> 503 $(cat "$WORK/r10")"

echo "all $PASS checks passed"
