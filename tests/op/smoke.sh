#!/usr/bin/env bash
# Smoke test for the test OP (tests/op/server.mjs). Talks to 127.0.0.1 only.
# Usage: bash tests/op/smoke.sh      (exit 0 = all checks passed)
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
WORK="$(mktemp -d)"
PIDS=()
cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  if [[ "${KEEP_WORK:-0}" != 1 ]]; then rm -rf "$WORK"; else echo "work dir kept: $WORK" >&2; fi
}
trap cleanup EXIT

PASS=0
ok()   { PASS=$((PASS + 1)); echo "ok   - $*"; }
fail() { local m="$*"; echo "FAIL - ${m:0:800}" >&2; echo "--- OP stderr (tail) ---" >&2; tail -n 30 "$WORK/op.err" >&2 || true; exit 1; }
# js FILE 'expression over d' : evaluate a JS expression over the JSON in FILE (d), print result
js() { node -e 'const d=JSON.parse(require("fs").readFileSync(process.argv[1],"utf8"));const r=eval(process.argv[2]);process.stdout.write(typeof r==="string"?r:JSON.stringify(r))' "$1" "$2"; }
jwt_part() { node -e 'process.stdout.write(Buffer.from(process.argv[1].split(".")[process.argv[2]],"base64url").toString())' "$1" "$2"; }
b64url() { openssl base64 -A | tr '+/' '-_' | tr -d '='; }
# location FILE : Location header of the last response in a curl -D dump
location() { tr -d '\r' < "$1" | awk 'tolower($1)=="location:"{print $2}' | tail -n 1; }
status_of() { tr -d '\r' < "$1" | awk '/^HTTP\//{s=$2} END{print s}'; }
qparam() { node -e 'const u=new URL(process.argv[1]);process.stdout.write(u.searchParams.get(process.argv[2])??"")' "$1" "$2"; }
wait_line() { # wait_line FILE PREFIX -> prints rest of first matching line
  local i
  for i in $(seq 1 100); do
    if grep -q "^$2 " "$1" 2>/dev/null; then sed -n "s/^$2 //p" "$1" | head -n 1; return 0; fi
    sleep 0.1
  done
  return 1
}

# --- back-channel logout receiver (a stand-in for the gateways) ---------------------------------
cat > "$WORK/bc.mjs" <<'EOF'
import * as http from 'node:http';
const received = [];
const server = http.createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    if (req.method === 'GET' && req.url === '/received') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(received));
      return;
    }
    const body = Buffer.concat(chunks).toString();
    const token = new URLSearchParams(body).get('logout_token');
    const dec = (i) => { try { return JSON.parse(Buffer.from(token.split('.')[i], 'base64url')); } catch { return null; } };
    received.push({
      path: req.url, host: req.headers.host, content_type: req.headers['content-type'], user_agent: req.headers['user-agent'] ?? null,
      logout_token: token, header: token ? dec(0) : null, payload: token ? dec(1) : null,
    });
    res.writeHead(200);
    res.end();
  });
});
server.listen(0, '127.0.0.1', () => console.log(`BC_LISTENING ${server.address().port}`));
EOF
node "$WORK/bc.mjs" > "$WORK/bc.out" 2>&1 &
PIDS+=($!)
BC_PORT="$(wait_line "$WORK/bc.out" BC_LISTENING)" || fail "back-channel receiver did not start"
BC="http://127.0.0.1:$BC_PORT"

# --- the OP -------------------------------------------------------------------------------------
DUMMY=9   # nothing listens there: the flow stops at the redirect to the client
export OP_CLIENTS="[
  {\"client_id\":\"smoke-a\",\"client_secret\":\"smoke-a-secret\",\"redirect_uris\":[\"http://127.0.0.1:$DUMMY/a/callback\"],
   \"post_logout_redirect_uris\":[\"http://127.0.0.1:$DUMMY/a/logged-out\"],\"backchannel_logout_uri\":\"$BC/a/backchannel-logout\"},
  {\"client_id\":\"smoke-b\",\"client_secret\":\"smoke-b-secret\",\"redirect_uris\":[\"http://127.0.0.1:$DUMMY/b/callback\"],
   \"post_logout_redirect_uris\":[\"http://127.0.0.1:$DUMMY/b/logged-out\"],\"backchannel_logout_uri\":\"http://bc.localhost:$BC_PORT/b/backchannel-logout\",
   \"token_endpoint_auth_method\":\"client_secret_post\"},
  {\"client_id\":\"smoke-c\",\"client_secret\":\"smoke-c-secret\",\"redirect_uris\":[\"http://127.0.0.1:$DUMMY/c/callback\"],
   \"backchannel_logout_uri\":\"http://0.0.0.0:$BC_PORT/c/backchannel-logout\"}
]"
export OP_BIG_ROLES=150
T0=$(date +%s%N)
node "$HERE/server.mjs" > "$WORK/op.out" 2> "$WORK/op.err" &
PIDS+=($!)
OP="$(wait_line "$WORK/op.out" OP_LISTENING)" || fail "OP did not print OP_LISTENING"
T1=$(date +%s%N)
ok "OP listening at $OP (startup $(( (T1 - T0) / 1000000 )) ms)"
[[ "$(wc -l < "$WORK/op.out")" -eq 1 ]] || fail "OP printed more than one stdout line"
ISS="$OP/realms/demo"
C="curl -sS --max-time 10"

# --- discovery ----------------------------------------------------------------------------------
$C -o "$WORK/disc.json" "$ISS/.well-known/openid-configuration"
[[ "$(js "$WORK/disc.json" d.issuer)" == "$ISS" ]] || fail "discovery issuer"
KC="$ISS/protocol/openid-connect"
for kv in authorization_endpoint=auth token_endpoint=token jwks_uri=certs userinfo_endpoint=userinfo \
          end_session_endpoint=logout introspection_endpoint=token/introspect revocation_endpoint=revoke; do
  [[ "$(js "$WORK/disc.json" "d.${kv%%=*}")" == "$KC/${kv#*=}" ]] || fail "discovery ${kv%%=*}"
done
[[ "$(js "$WORK/disc.json" 'd.authorization_response_iss_parameter_supported')" == true ]] || fail "iss parameter not advertised"
[[ "$(js "$WORK/disc.json" 'd.code_challenge_methods_supported.join()')" == S256 ]] || fail "PKCE methods"
[[ "$(js "$WORK/disc.json" 'd.backchannel_logout_session_supported')" == true ]] || fail "backchannel logout"
ok "discovery: issuer and Keycloak endpoint paths"
[[ "$($C -o /dev/null -w '%{http_code}' "$OP/__test/health")" == 200 ]] || fail "health"
$C -X POST -o /dev/null "$OP/__test/stats/reset"

# --- authorization code flow with PKCE for smoke-a ---------------------------------------------
JAR="$WORK/cookies.txt"
VERIFIER="$(openssl rand -base64 48 | tr '+/' '-_' | tr -d '=\n')"
CHALLENGE="$(printf '%s' "$VERIFIER" | openssl dgst -sha256 -binary | b64url)"
STATE="st-$RANDOM$RANDOM"; NONCE="n-$RANDOM$RANDOM"
REDIR_A="http://127.0.0.1:$DUMMY/a/callback"
auth_url() { # client redirect state nonce challenge
  echo "$KC/auth?response_type=code&client_id=$1&redirect_uri=$(node -e 'process.stdout.write(encodeURIComponent(process.argv[1]))' "$2")&scope=openid%20profile%20email&state=$3&nonce=$4&code_challenge=$5&code_challenge_method=S256"
}

# plain PKCE must be refused
$C -D "$WORK/h0" -o /dev/null "${KC}/auth?response_type=code&client_id=smoke-a&redirect_uri=$REDIR_A&scope=openid&state=x&code_challenge=${VERIFIER}&code_challenge_method=plain"
[[ "$(location "$WORK/h0")" == *error=invalid_request* ]] || fail "plain PKCE not refused: $(location "$WORK/h0")"
ok "code_challenge_method=plain refused"

$C -c "$JAR" -b "$JAR" -D "$WORK/h1" -o /dev/null "$(auth_url smoke-a "$REDIR_A" "$STATE" "$NONCE" "$CHALLENGE")"
LOC="$(location "$WORK/h1")"
[[ "$LOC" == /realms/demo/interaction/* ]] || fail "auth did not redirect to the login page: $(status_of "$WORK/h1") $LOC"
LOGIN_URL="$OP$LOC"
$C -c "$JAR" -b "$JAR" -D "$WORK/h2" -o "$WORK/login.html" "$LOGIN_URL"
[[ "$(status_of "$WORK/h2")" == 200 ]] || fail "login page status"
grep -q '<form id="login" method="post" action="' "$WORK/login.html" || fail "login form missing"
grep -Eqi 'https?://[^"]*(font|googleapis)|<link |<script src' "$WORK/login.html" && fail "login page loads remote resources"
ACTION="$(sed -n 's/.*<form id="login" method="post" action="\([^"]*\)".*/\1/p' "$WORK/login.html")"
[[ "$ACTION" == "$LOC/login" ]] || fail "form action $ACTION"
ok "login page served with form#login -> $ACTION"

$C -c "$JAR" -b "$JAR" -D "$WORK/h3" -o "$WORK/login2.html" --data-urlencode username=alice --data-urlencode password=wrong "$OP$ACTION"
[[ "$(status_of "$WORK/h3")" == 200 ]] && grep -q 'Invalid username or password' "$WORK/login2.html" || fail "wrong password not re-rendered with error"
ok "wrong password -> 200 with error message"

$C -c "$JAR" -b "$JAR" -D "$WORK/h4" -o /dev/null --data-urlencode username=alice --data-urlencode password=alice-password "$OP$ACTION"
NEXT="$(location "$WORK/h4")"
HOPS=0
while [[ "$NEXT" != "$REDIR_A"* ]]; do
  HOPS=$((HOPS + 1)); [[ $HOPS -lt 10 ]] || fail "too many redirects"
  [[ -n "$NEXT" ]] || fail "redirect chain ended without reaching the client (status $(status_of "$WORK/h4"))"
  [[ "$NEXT" == http* ]] || NEXT="$OP$NEXT"
  $C -c "$JAR" -b "$JAR" -D "$WORK/h4" -o /dev/null "$NEXT"
  NEXT="$(location "$WORK/h4")"
done
CODE="$(qparam "$NEXT" code)"
[[ -n "$CODE" ]] || fail "no code in $NEXT"
[[ "$(qparam "$NEXT" state)" == "$STATE" ]] || fail "state mismatch"
[[ "$(qparam "$NEXT" iss)" == "$ISS" ]] || fail "iss missing/wrong in authorization response"
ok "login -> redirect to client with code, state, iss ($HOPS hop(s) after the form POST)"

# --- token endpoint -----------------------------------------------------------------------------
$C -o "$WORK/tok_bad.json" -w '%{http_code}' -d grant_type=authorization_code --data-urlencode "code=$CODE" \
  --data-urlencode "redirect_uri=$REDIR_A" --data-urlencode "code_verifier=$VERIFIER" \
  -d client_id=smoke-a -d client_secret=smoke-a-secret "$KC/token" > "$WORK/st"
[[ "$(cat "$WORK/st")" == 401 && "$(js "$WORK/tok_bad.json" d.error)" == invalid_client ]] || fail "client_secret_post accepted for a basic client: $(cat "$WORK/tok_bad.json")"
ok "client_secret_post refused for a client_secret_basic client (401 invalid_client)"

$C -o "$WORK/tok.json" -u smoke-a:smoke-a-secret -d grant_type=authorization_code --data-urlencode "code=$CODE" \
  --data-urlencode "redirect_uri=$REDIR_A" --data-urlencode "code_verifier=$VERIFIER" "$KC/token"
AT="$(js "$WORK/tok.json" d.access_token)"; IDT="$(js "$WORK/tok.json" d.id_token)"; RT1="$(js "$WORK/tok.json" d.refresh_token)"
[[ -n "$AT" && -n "$IDT" && -n "$RT1" && "$AT" != undefined && "$RT1" != undefined ]] || fail "token response: $(cat "$WORK/tok.json")"
[[ "$(js "$WORK/tok.json" d.refresh_expires_in)" == 1800 && "$(js "$WORK/tok.json" d.expires_in)" == 300 ]] || fail "expires_in/refresh_expires_in"
ok "code exchanged with client_secret_basic (access, id and refresh token; expires_in 300, refresh_expires_in 1800)"

jwt_part "$AT" 0 > "$WORK/at.h"; jwt_part "$AT" 1 > "$WORK/at.json"; jwt_part "$IDT" 1 > "$WORK/id.json"
[[ "$(js "$WORK/at.h" d.alg)" == RS256 ]] || fail "access token alg"
for c in iss sub aud exp iat jti azp sid scope preferred_username email name; do
  [[ "$(js "$WORK/at.json" "d.$c!==undefined")" == true ]] || fail "access token lacks $c"
done
[[ "$(js "$WORK/at.json" d.iss)" == "$ISS" ]] || fail "at iss"
[[ "$(js "$WORK/at.json" d.azp)" == smoke-a ]] || fail "at azp"
[[ "$(js "$WORK/at.json" d.sub)" == 1b8f0e3c-0000-4000-8000-00000000a11c ]] || fail "at sub"
[[ "$(js "$WORK/at.json" d.preferred_username)" == alice ]] || fail "at preferred_username"
[[ "$(js "$WORK/at.json" 'd.realm_access.roles.slice(0,2).join()')" == user,admin ]] || fail "at realm roles"
[[ "$(js "$WORK/at.json" 'd.resource_access["smoke-a"].roles.join()')" == client-user ]] || fail "at resource_access"
[[ "$(js "$WORK/at.json" d.sid)" == "$(js "$WORK/id.json" d.sid)" ]] || fail "at sid != id token sid"
[[ "$(js "$WORK/id.json" d.nonce)" == "$NONCE" ]] || fail "id token nonce"
for c in preferred_username email name sid auth_time; do
  [[ "$(js "$WORK/id.json" "d.$c!==undefined")" == true ]] || fail "id token lacks $c"
done
[[ ${#AT} -gt 5000 ]] || fail "OP_BIG_ROLES=150 access token only ${#AT} chars"
ok "access token: RS256 JWT with Keycloak-like claims, sid = ID token sid, ${#AT} chars with 150 big roles"

# Keycloak-style userinfo and introspection accept the JWT access token
$C -o "$WORK/ui.json" -H "Authorization: Bearer $AT" "$KC/userinfo"
[[ "$(js "$WORK/ui.json" d.preferred_username)" == alice ]] || fail "userinfo: $(cat "$WORK/ui.json")"
$C -o "$WORK/intro.json" -u smoke-a:smoke-a-secret --data-urlencode "token=$AT" "$KC/token/introspect"
[[ "$(js "$WORK/intro.json" d.active)" == true ]] || fail "introspection of AT: $(cat "$WORK/intro.json")"
$C -o "$WORK/intro2.json" -u smoke-a:smoke-a-secret --data-urlencode "token=$RT1" "$KC/token/introspect"
[[ "$(js "$WORK/intro2.json" d.active)" == true ]] || fail "introspection of RT: $(cat "$WORK/intro2.json")"
ok "userinfo and introspection accept the JWT access token; refresh token introspects active"

# --- refresh, rotation, reuse detection ---------------------------------------------------------
$C -o "$WORK/ref.json" -u smoke-a:smoke-a-secret -d grant_type=refresh_token --data-urlencode "refresh_token=$RT1" "$KC/token"
RT2="$(js "$WORK/ref.json" d.refresh_token)"
[[ -n "$RT2" && "$RT2" != undefined && "$RT2" != "$RT1" ]] || fail "refresh did not rotate: $(cat "$WORK/ref.json")"
jwt_part "$(js "$WORK/ref.json" d.access_token)" 1 > "$WORK/at2.json"
[[ "$(js "$WORK/at2.json" d.sid)" == "$(js "$WORK/id.json" d.sid)" ]] || fail "refreshed at sid"
ok "refresh_token grant rotates the refresh token"
$C -o "$WORK/reuse.json" -u smoke-a:smoke-a-secret -d grant_type=refresh_token --data-urlencode "refresh_token=$RT1" "$KC/token"
[[ "$(js "$WORK/reuse.json" d.error)" == invalid_grant ]] || fail "reuse of old refresh token: $(cat "$WORK/reuse.json")"
$C -o "$WORK/reuse2.json" -u smoke-a:smoke-a-secret -d grant_type=refresh_token --data-urlencode "refresh_token=$RT2" "$KC/token"
[[ "$(js "$WORK/reuse2.json" d.error)" == invalid_grant ]] || fail "grant not revoked after reuse: $(cat "$WORK/reuse2.json")"
ok "reusing the old refresh token -> invalid_grant and the whole grant is revoked"

# --- SSO: second client, same browser -----------------------------------------------------------
REDIR_B="http://127.0.0.1:$DUMMY/b/callback"
VERIFIER_B="$(openssl rand -base64 48 | tr '+/' '-_' | tr -d '=\n')"
CHALLENGE_B="$(printf '%s' "$VERIFIER_B" | openssl dgst -sha256 -binary | b64url)"
$C -c "$JAR" -b "$JAR" -D "$WORK/h5" -o /dev/null "$(auth_url smoke-b "$REDIR_B" stb nb "$CHALLENGE_B")"
LOC="$(location "$WORK/h5")"
[[ "$LOC" == "$REDIR_B"* ]] || fail "SSO: auth endpoint did not redirect straight to client B: $(status_of "$WORK/h5") $LOC"
CODE_B="$(qparam "$LOC" code)"
$C -o "$WORK/tokb.json" -d grant_type=authorization_code --data-urlencode "code=$CODE_B" --data-urlencode "redirect_uri=$REDIR_B" \
  --data-urlencode "code_verifier=$VERIFIER_B" -d client_id=smoke-b -d client_secret=smoke-b-secret "$KC/token"
IDT_B="$(js "$WORK/tokb.json" d.id_token)"
[[ -n "$IDT_B" && "$IDT_B" != undefined ]] || fail "client B token: $(cat "$WORK/tokb.json")"
jwt_part "$IDT_B" 1 > "$WORK/idb.json"
[[ "$(js "$WORK/idb.json" d.sub)" == "$(js "$WORK/id.json" d.sub)" ]] || fail "SSO subject"
ok "SSO: client B got a code straight from the auth endpoint (no page), exchanged with client_secret_post"
REDIR_C="http://127.0.0.1:$DUMMY/c/callback"
$C -c "$JAR" -b "$JAR" -D "$WORK/h5c" -o /dev/null "$(auth_url smoke-c "$REDIR_C" stc nc "$CHALLENGE_B")"
[[ "$(location "$WORK/h5c")" == "$REDIR_C"*code=* ]] || fail "SSO to client C: $(location "$WORK/h5c")"

# --- stats --------------------------------------------------------------------------------------
$C -o "$WORK/stats.json" "$OP/__test/stats"
[[ "$(js "$WORK/stats.json" d.token.authorization_code)" == 3 ]] || fail "stats authorization_code: $(cat "$WORK/stats.json")"
[[ "$(js "$WORK/stats.json" d.token.refresh_token)" == 3 ]] || fail "stats refresh_token: $(cat "$WORK/stats.json")"
ok "stats count token endpoint calls: $(js "$WORK/stats.json" 'JSON.stringify(d.token)')"

# --- admin logout -> back-channel logout to both clients ----------------------------------------
$C -o "$WORK/admin.json" -d username=alice "$OP/__test/admin-logout"
[[ "$(js "$WORK/admin.json" 'd.backchannel.map(b=>b.client_id+":"+b.status).sort().join()')" == "smoke-a:200,smoke-b:200,smoke-c:null" ]] \
  || fail "admin logout: $(cat "$WORK/admin.json")"
[[ "$(js "$WORK/admin.json" 'd.backchannel.find(b=>b.client_id==="smoke-c").error')" == *"non-loopback"* ]] \
  || fail "non-loopback back-channel target not refused: $(cat "$WORK/admin.json")"
$C -o "$WORK/rcv.json" "$BC/received"
[[ "$(js "$WORK/rcv.json" 'd.length')" == 2 ]] || fail "receiver got $(cat "$WORK/rcv.json")"
[[ "$(js "$WORK/rcv.json" 'd.every(r=>r.header.typ==="logout+jwt" && r.header.alg==="RS256" && r.content_type.startsWith("application/x-www-form-urlencoded"))')" == true ]] \
  || fail "logout token header/content type: $(cat "$WORK/rcv.json")"
[[ "$(js "$WORK/rcv.json" 'd.find(r=>r.path==="/b/backchannel-logout").payload.sid')" == "$(js "$WORK/idb.json" d.sid)" ]] \
  || fail "client B logout token sid != client B id token sid"
[[ "$(js "$WORK/rcv.json" 'd.find(r=>r.path==="/b/backchannel-logout").host')" == "bc.localhost:$BC_PORT" ]] \
  || fail "*.localhost back-channel target not sent to loopback with its Host header"
[[ "$(js "$WORK/rcv.json" 'd.find(r=>r.path==="/a/backchannel-logout").payload.events["http://schemas.openid.net/event/backchannel-logout"]!==undefined')" == true ]] \
  || fail "logout token events"
ok "admin logout: form-POSTed logout_token (typ logout+jwt) to both clients with each client's sid"
ok "outgoing fetch: *.localhost mapped to 127.0.0.1 (Host kept), non-loopback 0.0.0.0 refused"
$C -o "$WORK/stats2.json" "$OP/__test/stats"
[[ "$(js "$WORK/stats2.json" 'd.backchannel.length')" == 3 ]] || fail "stats backchannel: $(cat "$WORK/stats2.json")"
$C -o "$WORK/ui2.json" -w '%{http_code}' -H "Authorization: Bearer $(js "$WORK/tokb.json" d.access_token)" "$KC/userinfo" > "$WORK/st"
[[ "$(cat "$WORK/st")" == 401 ]] || fail "userinfo still accepts token after admin logout"
$C -c "$JAR" -b "$JAR" -D "$WORK/h6" -o /dev/null "$(auth_url smoke-b "$REDIR_B" stb nb "$CHALLENGE_B")"
[[ "$(location "$WORK/h6")" == /realms/demo/interaction/* ]] || fail "OP session survived admin logout"
ok "after admin logout: OP session gone (login page again), access token rejected by userinfo"

# --- RP-initiated logout with id_token_hint -----------------------------------------------------
LOGIN_URL="$OP$(location "$WORK/h6")"
$C -c "$JAR" -b "$JAR" -o /dev/null "$LOGIN_URL"
$C -c "$JAR" -b "$JAR" -D "$WORK/h7" -o /dev/null --data-urlencode username=bob --data-urlencode password=bob-password "$LOGIN_URL/login"
NEXT="$(location "$WORK/h7")"; [[ "$NEXT" == http* ]] || NEXT="$OP$NEXT"
$C -c "$JAR" -b "$JAR" -D "$WORK/h7" -o /dev/null "$NEXT"
LOC="$(location "$WORK/h7")"; [[ "$LOC" == "$REDIR_B"* ]] || fail "bob login: $LOC"
$C -o "$WORK/tokbob.json" -d grant_type=authorization_code --data-urlencode "code=$(qparam "$LOC" code)" --data-urlencode "redirect_uri=$REDIR_B" \
  --data-urlencode "code_verifier=$VERIFIER_B" -d client_id=smoke-b -d client_secret=smoke-b-secret "$KC/token"
IDT_BOB="$(js "$WORK/tokbob.json" d.id_token)"
# SSO into client A too, so logout must reach both
$C -c "$JAR" -b "$JAR" -D "$WORK/h8" -o /dev/null "$(auth_url smoke-a "$REDIR_A" sta na "$CHALLENGE")"
[[ "$(location "$WORK/h8")" == "$REDIR_A"* ]] || fail "bob SSO to client A"
$C -o /dev/null -X POST "$OP/__test/stats/reset"
$C -c "$JAR" -b "$JAR" -D "$WORK/h9" -o "$WORK/logout.html" \
  "$KC/logout?id_token_hint=$IDT_BOB&post_logout_redirect_uri=$(node -e 'process.stdout.write(encodeURIComponent(process.argv[1]))' "http://127.0.0.1:$DUMMY/b/logged-out")&state=ls1"
grep -q '<form id="op-logout" method="post"' "$WORK/logout.html" || fail "logout page form"
grep -q "document.getElementById('op-logout').submit()" "$WORK/logout.html" || fail "logout auto-submit script"
LACTION="$(sed -n 's/.*<form id="op-logout" method="post" action="\([^"]*\)".*/\1/p' "$WORK/logout.html")"
XSRF="$(sed -n 's/.*name="xsrf" value="\([^"]*\)".*/\1/p' "$WORK/logout.html")"
grep -q 'name="logout" value="yes"' "$WORK/logout.html" || fail "logout=yes input"
$C -c "$JAR" -b "$JAR" -D "$WORK/h10" -o /dev/null --data-urlencode "xsrf=$XSRF" -d logout=yes "$LACTION"
LOC="$(location "$WORK/h10")"
[[ "$LOC" == "http://127.0.0.1:$DUMMY/b/logged-out?state=ls1" ]] || fail "post logout redirect: $(status_of "$WORK/h10") $LOC"
$C -o "$WORK/stats3.json" "$OP/__test/stats"
[[ "$(js "$WORK/stats3.json" 'd.backchannel.map(b=>b.client_id+":"+b.status).sort().join()')" == "smoke-a:200,smoke-b:200" ]] \
  || fail "RP logout back-channel: $(cat "$WORK/stats3.json")"
ok "RP-initiated logout (id_token_hint, auto-submitted logout=yes) -> back-channel to both clients, redirect with state"

# --- server-side RP logout: POST /logout with client credentials and refresh_token, no cookies ----
# fresh SSO session: alice logs in to A (form), then B via SSO; both exchange their codes
$C -c "$JAR" -b "$JAR" -D "$WORK/r1" -o /dev/null "$(auth_url smoke-a "$REDIR_A" sta na "$CHALLENGE")"
LOC="$(location "$WORK/r1")"; [[ "$LOC" == /realms/demo/interaction/* ]] || fail "rp logout setup: no login page: $LOC"
$C -c "$JAR" -b "$JAR" -o /dev/null "$OP$LOC"
$C -c "$JAR" -b "$JAR" -D "$WORK/r2" -o /dev/null --data-urlencode username=alice --data-urlencode password=alice-password "$OP$LOC/login"
NEXT="$(location "$WORK/r2")"; [[ "$NEXT" == http* ]] || NEXT="$OP$NEXT"
$C -c "$JAR" -b "$JAR" -D "$WORK/r2" -o /dev/null "$NEXT"
LOC="$(location "$WORK/r2")"; [[ "$LOC" == "$REDIR_A"* ]] || fail "rp logout setup: alice login to A: $LOC"
$C -o "$WORK/rta.json" -u smoke-a:smoke-a-secret -d grant_type=authorization_code --data-urlencode "code=$(qparam "$LOC" code)" \
  --data-urlencode "redirect_uri=$REDIR_A" --data-urlencode "code_verifier=$VERIFIER" "$KC/token"
$C -c "$JAR" -b "$JAR" -D "$WORK/r3" -o /dev/null "$(auth_url smoke-b "$REDIR_B" stb nb "$CHALLENGE_B")"
LOC="$(location "$WORK/r3")"; [[ "$LOC" == "$REDIR_B"* ]] || fail "rp logout setup: SSO to B: $LOC"
$C -o "$WORK/rtb.json" -d grant_type=authorization_code --data-urlencode "code=$(qparam "$LOC" code)" --data-urlencode "redirect_uri=$REDIR_B" \
  --data-urlencode "code_verifier=$VERIFIER_B" -d client_id=smoke-b -d client_secret=smoke-b-secret "$KC/token"
RTA="$(js "$WORK/rta.json" d.refresh_token)"; RTB="$(js "$WORK/rtb.json" d.refresh_token)"
[[ -n "$RTA" && "$RTA" != undefined && -n "$RTB" && "$RTB" != undefined ]] || fail "rp logout setup tokens: $(cat "$WORK/rta.json") $(cat "$WORK/rtb.json")"
jwt_part "$(js "$WORK/rta.json" d.id_token)" 1 > "$WORK/rida.json"; jwt_part "$(js "$WORK/rtb.json" d.id_token)" 1 > "$WORK/ridb.json"
SID="$(js "$WORK/rida.json" d.sid)"
RTA0="$RTA"   # rotate A's refresh token once: the old one is then "used"
$C -o "$WORK/rta2.json" -u smoke-a:smoke-a-secret -d grant_type=refresh_token --data-urlencode "refresh_token=$RTA0" "$KC/token"
RTA="$(js "$WORK/rta2.json" d.refresh_token)"; [[ -n "$RTA" && "$RTA" != undefined && "$RTA" != "$RTA0" ]] || fail "rp logout setup refresh: $(cat "$WORK/rta2.json")"
[[ "$SID" == "$(js "$WORK/ridb.json" d.sid)" ]] || fail "rp logout setup: A and B sid differ"
$C -o "$WORK/rcv0.json" "$BC/received"; NRCV="$(js "$WORK/rcv0.json" d.length)"
$C -o /dev/null -X POST "$OP/__test/stats/reset"
# rplogout OUT [curl args...] : POST the logout endpoint without cookies, print the status code
rplogout() { local out="$1"; shift; $C -o "$out" -w '%{http_code}' "$@" "$KC/logout"; }

# refusals first: nothing may end the session
[[ "$(rplogout "$WORK/rl1.json" -u smoke-a:wrong-secret --data-urlencode "refresh_token=$RTA")" == 401 \
  && "$(js "$WORK/rl1.json" d.error)" == invalid_client ]] || fail "rp logout, wrong secret (basic): $(cat "$WORK/rl1.json")"
[[ "$(rplogout "$WORK/rl2.json" -d client_id=smoke-b -d client_secret=wrong-secret --data-urlencode "refresh_token=$RTB")" == 401 \
  && "$(js "$WORK/rl2.json" d.error)" == invalid_client ]] || fail "rp logout, wrong secret (post): $(cat "$WORK/rl2.json")"
[[ "$(rplogout "$WORK/rl3.json" -d client_id=smoke-a -d client_secret=smoke-a-secret --data-urlencode "refresh_token=$RTA")" == 401 \
  && "$(js "$WORK/rl3.json" d.error)" == invalid_client ]] || fail "rp logout, post for a basic client: $(cat "$WORK/rl3.json")"
[[ "$(rplogout "$WORK/rl4.json" -d client_id=smoke-b -d client_secret=smoke-b-secret --data-urlencode "refresh_token=$RTA")" == 400 \
  && "$(js "$WORK/rl4.json" d.error)" == invalid_grant ]] || fail "rp logout, A's token presented by B: $(cat "$WORK/rl4.json")"
[[ "$(rplogout "$WORK/rl5.json" -u smoke-a:smoke-a-secret -d refresh_token=not-a-token)" == 400 \
  && "$(js "$WORK/rl5.json" d.error)" == invalid_grant ]] || fail "rp logout, unknown token: $(cat "$WORK/rl5.json")"
[[ "$(rplogout "$WORK/rl5b.json" -u smoke-a:smoke-a-secret --data-urlencode "refresh_token=$RTA0")" == 400 \
  && "$(js "$WORK/rl5b.json" d.error)" == invalid_grant ]] || fail "rp logout, rotated-away token: $(cat "$WORK/rl5b.json")"
$C -o "$WORK/rs0.json" "$OP/__test/stats"
[[ "$(js "$WORK/rs0.json" 'd.backchannel.length')" == 0 ]] || fail "refused rp logout sent back-channel: $(cat "$WORK/rs0.json")"
$C -o "$WORK/rui0.json" -w '%{http_code}' -H "Authorization: Bearer $(js "$WORK/rtb.json" d.access_token)" "$KC/userinfo" > "$WORK/st"
[[ "$(cat "$WORK/st")" == 200 ]] || fail "session ended by a refused rp logout"
ok "rp logout refusals: wrong secret (basic and post) and wrong method -> 401 invalid_client; other client's, unknown or rotated-away token -> 400 invalid_grant; session intact"

# the real thing: client A, HTTP Basic, its refresh token, no cookies -> 204 and back-channel to A and B
[[ "$(rplogout "$WORK/rl6.out" -D "$WORK/rl6.h" -u smoke-a:smoke-a-secret --data-urlencode "refresh_token=$RTA")" == 204 ]] \
  || fail "rp logout: $(status_of "$WORK/rl6.h") $(cat "$WORK/rl6.out")"
[[ ! -s "$WORK/rl6.out" ]] || fail "rp logout 204 has a body: $(cat "$WORK/rl6.out")"
$C -o "$WORK/rcv1.json" "$BC/received"
node -e '
const d=JSON.parse(require("fs").readFileSync(process.argv[1],"utf8")).slice(+process.argv[2]);
const [sid, sub]=process.argv.slice(3);
const ok=d.length===2 && ["/a/backchannel-logout","/b/backchannel-logout"].every((p)=>{
  const r=d.find((x)=>x.path===p);
  return r && r.header.typ==="logout+jwt" && r.payload.sid===sid && r.payload.sub===sub
    && r.payload.aud===(p[1]==="a"?"smoke-a":"smoke-b") && r.payload.events["http://schemas.openid.net/event/backchannel-logout"];
});
if(!ok){console.error(JSON.stringify(d));process.exit(1)}' "$WORK/rcv1.json" "$NRCV" "$SID" "$(js "$WORK/rida.json" d.sub)" \
  || fail "rp logout back-channel deliveries: $(cat "$WORK/rcv1.json")"
$C -o "$WORK/rs1.json" "$OP/__test/stats"
[[ "$(js "$WORK/rs1.json" 'd.backchannel.map(b=>b.client_id+":"+b.status).sort().join()')" == "smoke-a:200,smoke-b:200" ]] \
  || fail "rp logout stats backchannel: $(cat "$WORK/rs1.json")"
ok "rp logout: 204 No Content; logout tokens (same sid, sub) delivered to A and B"

$C -c "$JAR" -b "$JAR" -D "$WORK/r4" -o /dev/null "$(auth_url smoke-b "$REDIR_B" stb nb "$CHALLENGE_B")"
LOC="$(location "$WORK/r4")"; [[ "$LOC" == /realms/demo/interaction/* ]] || fail "OP session survived rp logout: $LOC"
$C -c "$JAR" -b "$JAR" -o "$WORK/r4.html" "$OP$LOC"
grep -q '<form id="login"' "$WORK/r4.html" || fail "no login form after rp logout"
$C -o "$WORK/rrb.json" -d grant_type=refresh_token --data-urlencode "refresh_token=$RTB" -d client_id=smoke-b -d client_secret=smoke-b-secret "$KC/token"
[[ "$(js "$WORK/rrb.json" d.error)" == invalid_grant ]] || fail "client B refresh token alive after rp logout: $(cat "$WORK/rrb.json")"
$C -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $(js "$WORK/rtb.json" d.access_token)" "$KC/userinfo" > "$WORK/st"
[[ "$(cat "$WORK/st")" == 401 ]] || fail "client B access token accepted after rp logout"
ok "after rp logout: OP session gone (login form again), B's refresh token invalid_grant, B's access token refused by userinfo"

[[ "$(rplogout "$WORK/rl7.json" -u smoke-a:smoke-a-secret --data-urlencode "refresh_token=$RTA")" == 400 \
  && "$(js "$WORK/rl7.json" d.error)" == invalid_grant ]] || fail "rp logout, reused refresh token: $(cat "$WORK/rl7.json")"
[[ "$(rplogout "$WORK/rl8.json" -u smoke-a:wrong-secret --data-urlencode "refresh_token=$RTA")" == 401 \
  && "$(js "$WORK/rl8.json" d.error)" == invalid_client ]] || fail "rp logout, wrong secret after logout: $(cat "$WORK/rl8.json")"
$C -o "$WORK/rs2.json" "$OP/__test/stats"
[[ "$(js "$WORK/rs2.json" d.rp_backchannel_logout)" == 9 && "$(js "$WORK/rs2.json" 'd.backchannel.length')" == 2 ]] \
  || fail "rp logout stats: $(cat "$WORK/rs2.json")"
ok "rp logout again with the same refresh token -> 400 invalid_grant; wrong secret -> 401 invalid_client; stats rp_backchannel_logout=9"

# --- error page is inline -----------------------------------------------------------------------
$C -o "$WORK/err.html" "$KC/auth?client_id=nope&response_type=code"
grep -Eqi 'https?://[^"]*(font|googleapis)|@import' "$WORK/err.html" && fail "error page loads remote resources"
ok "error page is inline HTML"

echo "all $PASS checks passed"
