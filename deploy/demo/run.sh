#!/usr/bin/env bash
# make demo: test OP + gateways for a.localhost and b.localhost + demo app.
# Store: in-memory, or Redis when REDIS_URL is set.
set -euo pipefail
cd "$(dirname "$0")/../.."
mkdir -p .demo
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT INT TERM

for port in 9000 8081 8082 8090; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    echo "demo: port $port is already in use; stop whatever listens there (another make demo?)" >&2
    exit 1
  fi
done

OP_PORT=9000 node tests/op/server.mjs > .demo/op.out 2> .demo/op.log &
pids+=($!)
for _ in $(seq 1 100); do grep -q OP_LISTENING .demo/op.out 2>/dev/null && break; sleep 0.1; done
grep -q OP_LISTENING .demo/op.out || { echo "demo: the test OP did not start; see .demo/op.log" >&2; exit 1; }

if [ -n "${REDIS_URL:-}" ]; then
  export SSO__STORE__KIND=redis SSO__STORE__URL="$REDIS_URL"
  echo "demo: using Redis at $REDIS_URL"
fi
./target/debug/sso-gateway --config deploy/demo/a.toml 2> .demo/gateway-a.log &
pids+=($!)
./target/debug/sso-gateway --config deploy/demo/b.toml 2> .demo/gateway-b.log &
pids+=($!)
./target/debug/sso-demo-app --listen 127.0.0.1:8090 --issuer http://127.0.0.1:9000/realms/demo \
  --gateway a.localhost=http://auth.a.localhost:8081 --gateway b.localhost=http://auth.b.localhost:8082 \
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

  Gateways:  http://auth.a.localhost:8081/sso/session   http://auth.b.localhost:8082/sso/session
  OP:        http://127.0.0.1:9000/realms/demo/.well-known/openid-configuration
  Use Chromium/Chrome (they resolve *.localhost to 127.0.0.1 by themselves).

MSG
wait -n "${pids[@]}"
echo "demo: a process exited; see .demo/*.log" >&2
