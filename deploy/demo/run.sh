#!/usr/bin/env bash
# make demo: test OP + gateways for a.localhost and b.localhost + demo app.
# make demo-keycloak (DEMO_OP=keycloak): the same on a real Keycloak with the shipped realm
# (deploy/keycloak/realm-demo.json), fetched once by deploy/scripts/keycloak.sh.
# Store: in-memory, or Redis when REDIS_URL is set.
set -euo pipefail
cd "$(dirname "$0")/../.."
mkdir -p .demo
pids=()
kc_pgid=""
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  # Keycloak: kc.sh and its java child, in their own process group (setsid)
  [ -n "$kc_pgid" ] && kill -- "-$kc_pgid" 2>/dev/null || true
  wait 2>/dev/null || true
}
trap cleanup EXIT INT TERM

op="${DEMO_OP:-embedded}"
case "$op" in
  embedded) op_ports="9000" ;;
  keycloak) op_ports="9080 9001" ;;
  *) echo "demo: DEMO_OP=$op: use embedded or keycloak" >&2; exit 2 ;;
esac
for port in $op_ports 8081 8082 8090; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    echo "demo: port $port is already in use; stop whatever listens there (another make demo?)" >&2
    exit 1
  fi
done

if [ "$op" = embedded ]; then
  issuer="http://127.0.0.1:9000/realms/demo"
  OP_PORT=9000 node tests/op/server.mjs > .demo/op.out 2> .demo/op.log &
  pids+=($!)
  for _ in $(seq 1 100); do grep -q OP_LISTENING .demo/op.out 2>/dev/null && break; sleep 0.1; done
  grep -q OP_LISTENING .demo/op.out || { echo "demo: the test OP did not start; see .demo/op.log" >&2; exit 1; }
else
  issuer="http://127.0.0.1:9080/realms/demo"
  kc_home="$(bash deploy/scripts/keycloak.sh home)"
  mkdir -p "$kc_home/data/import" .demo/keycloak
  cp deploy/keycloak/realm-demo.json "$kc_home/data/import/realm-demo.json"
  echo "demo: starting Keycloak $(cat deploy/keycloak/VERSION) (about a minute; log in .demo/keycloak.log)"
  # realm-demo.json's placeholders: this demo's secrets and gateway URLs (back-channel to
  # the loopback address: Java resolves no *.localhost name)
  GW_A_CLIENT_SECRET=gw-a-secret GW_B_CLIENT_SECRET=gw-b-secret \
  GW_A_URL=http://auth.a.localhost:8081 GW_B_URL=http://auth.b.localhost:8082 \
  GW_A_BACKCHANNEL_URL=http://127.0.0.1:8081/sso/backchannel-logout \
  GW_B_BACKCHANNEL_URL=http://127.0.0.1:8082/sso/backchannel-logout \
  KC_BOOTSTRAP_ADMIN_USERNAME=admin KC_BOOTSTRAP_ADMIN_PASSWORD=admin \
    setsid "$kc_home/bin/kc.sh" start-dev --http-host=127.0.0.1 --http-port=9080 \
      --http-management-port=9001 --health-enabled=true --import-realm --db=dev-file \
      --db-url="jdbc:h2:file:$PWD/.demo/keycloak/db;NON_KEYWORDS=VALUE" \
      > .demo/keycloak.log 2>&1 &
  kc_pid=$!
  kc_pgid=$kc_pid
  pids+=("$kc_pid")
  for _ in $(seq 1 600); do
    curl -fsS http://127.0.0.1:9001/health/ready >/dev/null 2>&1 \
      && curl -fsS "$issuer/.well-known/openid-configuration" >/dev/null 2>&1 && break
    kill -0 "$kc_pid" 2>/dev/null || { echo "demo: Keycloak exited; see .demo/keycloak.log" >&2; exit 1; }
    sleep 0.5
  done
  curl -fsS "$issuer/.well-known/openid-configuration" >/dev/null \
    || { echo "demo: Keycloak is not ready; see .demo/keycloak.log" >&2; exit 1; }
fi
export SSO__OIDC__ISSUER="$issuer"

if [ -n "${REDIS_URL:-}" ]; then
  export SSO__STORE__KIND=redis SSO__STORE__URL="$REDIS_URL"
  echo "demo: using Redis at $REDIS_URL"
fi
./target/debug/sso-gateway --config deploy/demo/a.toml 2> .demo/gateway-a.log &
pids+=($!)
./target/debug/sso-gateway --config deploy/demo/b.toml 2> .demo/gateway-b.log &
pids+=($!)
./target/debug/sso-demo-app --listen 127.0.0.1:8090 --issuer "$issuer" \
  --gateway a.localhost=http://auth.a.localhost:8081 --gateway b.localhost=http://auth.b.localhost:8082 \
  --cors-origin http://app1.a.localhost:8090 --cors-origin http://app.b.localhost:8090 \
  2> .demo/app.log &
pids+=($!)

for url in http://127.0.0.1:8081/readyz http://127.0.0.1:8082/readyz; do
  for _ in $(seq 1 100); do curl -fsS "$url" >/dev/null 2>&1 && break; sleep 0.1; done
  curl -fsS "$url" >/dev/null || { echo "demo: $url is not ready; see .demo/*.log" >&2; exit 1; }
done

cat <<MSG

  sso-gateway demo is running (Ctrl-C stops it; logs in .demo/).

  1. Open  http://app1.a.localhost:8090/   and click "Log in"
     user: alice   password: alice-password   (or bob / bob-password)
  2. Then  http://app.b.localhost:8090/    and click "Log in": no password this time (SSO via the OP session)
  3. The SPA (examples/spa with clients/js/sso.js):  http://app1.a.localhost:8090/spa/
     and http://app.b.localhost:8090/spa/ ; its API call goes to http://api.a.localhost:8090/api/me

  Gateways:  http://auth.a.localhost:8081/sso/session   http://auth.b.localhost:8082/sso/session
  OP:        $issuer/.well-known/openid-configuration
$( [ "$op" = keycloak ] && echo "  Keycloak admin console: http://127.0.0.1:9080/admin/  (admin / admin)" )
  Use Chromium/Chrome (they resolve *.localhost to 127.0.0.1 by themselves).

MSG
wait -n "${pids[@]}"
echo "demo: a process exited; see .demo/*.log" >&2
