#!/usr/bin/env bash
# Checks of deploy/docker, deploy/keycloak and deploy/k8s that need no Docker engine, no
# Kubernetes and no Keycloak (see deploy/README.md). Not part of `make test`.
#
#   cargo build -p sso-gateway && bash deploy/docker/check-offline.sh
#
# Needs python3 with PyYAML, nginx with auth_request, openssl and curl. For the rehearsal
# (step 5), also node and the test OP's packages (`cd tests/op && npm ci`); the step is skipped
# without them. Optional tools that are used when on PATH: docker compose (`config` only),
# hadolint, kubectl (`kustomize` only).
set -euo pipefail
cd "$(dirname "$0")/../.."
REPO=$PWD
BIN=${SSO_GATEWAY:-$REPO/target/debug/sso-gateway}
[ -x "$BIN" ] || { echo "no $BIN: run cargo build -p sso-gateway first" >&2; exit 1; }
W=$(mktemp -d /tmp/sso-deploy-check-XXXXXX)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$W"
}
trap cleanup EXIT
PASS=0
ok() { PASS=$((PASS + 1)); echo "ok   - $*"; }
fail() { echo "FAIL - $*" >&2; exit 1; }
key64() { openssl rand -base64 64 | tr -d '\n'; }

# 1. JSON and YAML parse -----------------------------------------------------------------------
python3 -m json.tool deploy/keycloak/realm-demo.json > /dev/null || fail "realm-demo.json"
ok "keycloak/realm-demo.json parses"
python3 - <<'EOF' || fail "YAML"
import glob, yaml
for f in ["deploy/docker/compose.yml"] + sorted(glob.glob("deploy/k8s/*.yaml")):
    docs = [d for d in yaml.safe_load_all(open(f)) if d is not None]
    assert docs, f
EOF
ok "docker/compose.yml and k8s/*.yaml parse"

# 2. gateway configs pass check-config ---------------------------------------------------------
KA=$(key64); KB="$(key64),$(key64)"; FK=$(openssl rand -base64 32)
# The compose secret federation_ab is mounted at /run/secrets/federation_ab: point at a file.
echo "$FK" > "$W/federation_ab"
for g in a b; do
  keys=$KA; [ $g = b ] && keys=$KB
  sed "s#/run/secrets/federation_ab#$W/federation_ab#" deploy/docker/gateway-$g.toml > "$W/docker-$g.toml"
  SSO__OIDC__CLIENT_SECRET=x SSO__COOKIE__KEYS="$keys" \
    "$BIN" check-config --config "$W/docker-$g.toml" > /dev/null || fail "gateway-$g.toml"
done
ok "docker/gateway-a.toml and gateway-b.toml pass check-config (secrets from env, as in compose)"

mkdir -p "$W/sec" "$W/placeholder"
{ key64; echo; key64; echo; } > "$W/sec/cookie-keys"
echo s3cret > "$W/sec/client-secret"
openssl rand -base64 32 > "$W/sec/federation-ab"
openssl rand -hex 32 > "$W/sec/admin-token"
python3 - "$W" <<'EOF'
import sys, yaml
w = sys.argv[1]
toml = yaml.safe_load(open("deploy/k8s/configmap.yaml"))["data"]["gateway.toml"]
# [[fanout.peer]] key files cannot be moved by environment variables: @SECRETS@ is replaced
# by the directory of each run below.
toml = toml.replace("/run/secrets/sso-gateway/federation-", "@SECRETS@/federation-")
open(f"{w}/gateway.toml", "w").write(toml)
for k, v in yaml.safe_load(open("deploy/k8s/secret.yaml"))["stringData"].items():
    open(f"{w}/placeholder/{k}", "w").write(v)
# The commented sentinel/cluster blocks, switched on in place of kind = "redis" / url.
for kind in ["sentinel", "cluster"]:
    out, on = [], False
    for line in toml.split("\n"):
        if line.startswith(('kind = "redis"', 'url = "redis://')):
            out.append("# " + line); continue
        if line.startswith(f'#   kind = "{kind}"'): on = True
        if on and not line.startswith("#   "): on = False
        out.append(line[4:] if on else line)
    open(f"{w}/gateway-{kind}.toml", "w").write("\n".join(out))
EOF
files_from() {  # DIR: the *_file paths of the ConfigMap, pointed at DIR
  echo SSO__OIDC__CLIENT_SECRET_FILE="$1/client-secret" SSO__COOKIE__KEYS_FILE="$1/cookie-keys" \
       SSO__ADMIN__TOKEN_FILE="$1/admin-token"
}
in_dir() {  # FILE DIR: FILE with its peer key files in DIR
  sed "s#@SECRETS@#$2#g" "$W/$1.toml" > "$W/$1.$(basename "$2").toml"
  echo "$W/$1.$(basename "$2").toml"
}
for f in gateway gateway-sentinel gateway-cluster; do
  env $(files_from "$W/sec") "$BIN" check-config --config "$(in_dir $f "$W/sec")" > /dev/null || fail "k8s $f.toml"
done
ok "k8s ConfigMap gateway.toml passes check-config, also with the sentinel and cluster variants"
if env $(files_from "$W/placeholder") "$BIN" check-config --config "$(in_dir gateway "$W/placeholder")" > /dev/null 2>&1; then
  fail "the placeholders of k8s/secret.yaml pass check-config"
fi
ok "the placeholders of k8s/secret.yaml are refused by check-config"

python3 - <<'EOF' || fail "k8s cross-references"
import re, yaml
cm = yaml.safe_load(open("deploy/k8s/configmap.yaml"))
dep = yaml.safe_load(open("deploy/k8s/deployment.yaml"))
sec = yaml.safe_load(open("deploy/k8s/secret.yaml"))
spec = dep["spec"]["template"]["spec"]; c = spec["containers"][0]
mounts = {m["name"]: m["mountPath"] for m in c["volumeMounts"]}
vols = {v["name"]: v for v in spec["volumes"]}
items = vols["secrets"]["secret"]["items"]
files = set(re.findall(r'\b\w*_file = "([^"]+)"', cm["data"]["gateway.toml"]))
assert files <= {mounts["secrets"] + "/" + i["path"] for i in items}, files
assert all(i["key"] in sec["stringData"] for i in items)
assert vols["config"]["configMap"]["name"] == cm["metadata"]["name"]
assert c["args"] == ["--config", mounts["config"] + "/gateway.toml"]
labels = dep["spec"]["template"]["metadata"]["labels"].items()
for f in ["service.yaml", "pdb.yaml"]:
    s = yaml.safe_load(open(f"deploy/k8s/{f}"))["spec"]["selector"]
    assert s.get("matchLabels", s).items() <= labels, f
EOF
ok "k8s: *_file paths are the mounted Secret items; Service and PDB select the pods"

# 3. nginx -t on docker/nginx.conf -------------------------------------------------------------
read -r P_NG P_A P_B P_KC P_APP < <(python3 -c '
import socket
ss = [socket.socket() for _ in range(5)]
for s in ss: s.bind(("127.0.0.1", 0))
print(*[s.getsockname()[1] for s in ss])')
NG=$W/nginx; mkdir -p "$NG/snippets"
cp deploy/nginx/sso-auth.conf deploy/nginx/sso-protect.conf "$NG/snippets/"
# Container names do not resolve here: map them to loopback ports.
sed -e "s/server gw-a:8080;/server 127.0.0.1:$P_A;/" -e "s/server gw-b:8080;/server 127.0.0.1:$P_B;/" \
    -e "s/server keycloak:8080;/server 127.0.0.1:$P_KC;/" -e "s/server whoami:80;/server 127.0.0.1:$P_APP;/" \
    -e "s/listen 80 default_server;/listen 127.0.0.1:$P_NG default_server;/" \
    -e "s/listen 80;/listen 127.0.0.1:$P_NG;/" deploy/docker/nginx.conf > "$NG/sso.conf"
cat > "$NG/nginx.conf" <<EOF
master_process off;
worker_processes 1;
error_log $NG/error.log warn;
events { worker_connections 256; }
http {
    access_log $NG/access.log;
    client_body_temp_path $NG/client_body;
    proxy_temp_path $NG/proxy;
    fastcgi_temp_path $NG/fastcgi;
    uwsgi_temp_path $NG/uwsgi;
    scgi_temp_path $NG/scgi;
    include sso.conf;
}
EOF
NGINX=(nginx -p "$NG" -c "$NG/nginx.conf" -e "$NG/error.log" -g "daemon off; pid $NG/nginx.pid;")
"${NGINX[@]}" -t 2> "$W/nginx-t.log" || { cat "$W/nginx-t.log" >&2; fail "nginx -t"; }
ok "docker/nginx.conf with the shipped snippets passes nginx -t"

# 4. optional tools ----------------------------------------------------------------------------
if docker compose version > /dev/null 2>&1; then
  printf 'SSO_COOKIE_KEYS_A=%s\nSSO_COOKIE_KEYS_B=%s\nSSO_FEDERATION_KEY_AB=%s\n' "$KA" "$KA" "$FK" > "$W/env"
  docker compose -f deploy/docker/compose.yml --env-file "$W/env" config -q 2> "$W/compose.err" || true
  [ ! -s "$W/compose.err" ] || { cat "$W/compose.err" >&2; fail "docker compose config"; }
  ok "docker compose config"
else
  echo "skip - docker compose (not installed)"
fi
if command -v hadolint > /dev/null; then hadolint deploy/docker/Dockerfile || fail hadolint; ok "hadolint"; else echo "skip - hadolint (not installed)"; fi
if command -v kubectl > /dev/null; then kubectl kustomize deploy/k8s > /dev/null || fail "kubectl kustomize"; ok "kubectl kustomize deploy/k8s"; else echo "skip - kubectl (not installed)"; fi

# 5. rehearsal: the compose topology as local processes ----------------------------------------
if ! command -v node > /dev/null || [ ! -d tests/op/node_modules ]; then
  echo "skip - rehearsal (needs node and tests/op/node_modules: cd tests/op && npm ci)"
  echo "$PASS passed, 0 failed"; exit 0
fi
export OP_CLIENTS="[
 {\"client_id\":\"gw-a\",\"client_secret\":\"sa\",\"redirect_uris\":[\"http://auth.a.localhost:$P_NG/sso/callback\"],
  \"post_logout_redirect_uris\":[\"http://auth.a.localhost:$P_NG/sso/logged-out\"],\"backchannel_logout_uri\":\"http://127.0.0.1:$P_A/sso/backchannel-logout\"},
 {\"client_id\":\"gw-b\",\"client_secret\":\"sb\",\"redirect_uris\":[\"http://auth.b.localhost:$P_NG/sso/callback\"],
  \"post_logout_redirect_uris\":[\"http://auth.b.localhost:$P_NG/sso/logged-out\"],\"backchannel_logout_uri\":\"http://127.0.0.1:$P_B/sso/backchannel-logout\"}]"
node tests/op/server.mjs > "$W/op.out" 2> "$W/op.err" & PIDS+=($!)
for _ in $(seq 100); do grep -q OP_LISTENING "$W/op.out" 2>/dev/null && break; sleep 0.1; done
OP=$(sed -n 's/^OP_LISTENING //p' "$W/op.out"); [ -n "$OP" ] || fail "test OP did not start: $(tail -3 "$W/op.err")"
# whoami stand-in: answers with the request headers as JSON.
python3 - "$P_APP" > /dev/null 2>&1 <<'EOF' & PIDS+=($!)
import http.server, json, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        b = json.dumps({k.lower(): v for k, v in self.headers.items()}).encode()
        self.send_response(200); self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(b))); self.end_headers(); self.wfile.write(b)
    do_POST = do_GET
    def log_message(self, *a): pass
http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
EOF
gw() { # a|b port secret peer
  # the peer through nginx's port, the shared key from a file (compose: a secret)
  sed -e "s#url = \"http://auth.$4.localhost\"#url = \"http://auth.$4.localhost:$P_NG\"#" \
      -e "s#/run/secrets/federation_ab#$W/federation_ab#" \
      -e "s#\"\*\.$1\.localhost\"\]#\"*.$1.localhost\", \"$1.localhost:$P_NG\", \"*.$1.localhost:$P_NG\"]#" \
      deploy/docker/gateway-$1.toml > "$W/rehearsal-$1.toml"
  # nginx listens on a free port here, not 80: redirect targets name it (listed ports only)
  grep -q "\*\.$1\.localhost:$P_NG" "$W/rehearsal-$1.toml" || fail "rehearsal: redirect.allowed of gateway-$1.toml"
  grep -q "auth.$4.localhost:$P_NG" "$W/rehearsal-$1.toml" || fail "rehearsal: peer url of gateway-$1.toml"
  SSO__SERVER__LISTEN=127.0.0.1:$2 SSO__SERVER__PUBLIC_URL=http://auth.$1.localhost:$P_NG \
  SSO__OIDC__ISSUER=$OP/realms/demo SSO__STORE__KIND=memory SSO__OIDC__CLIENT_SECRET=$3 \
  SSO__COOKIE__KEYS="$KA" \
    "$BIN" --config "$W/rehearsal-$1.toml" 2> "$W/gw-$1.log" & PIDS+=($!)
}
gw a "$P_A" sa b
gw b "$P_B" sb a
"${NGINX[@]}" > /dev/null 2>&1 & PIDS+=($!)
for port in "$P_A" "$P_B" "$P_NG"; do
  for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$port/" && break; sleep 0.1; done
done
C="curl -sS --max-time 10 --connect-to ::127.0.0.1: -c $W/jar -b $W/jar -H Accept:text/html"
loc() { tr -d '\r' < "$1" | awk 'tolower($1)=="location:"{print $2}' | tail -n 1; }
st() { tr -d '\r' < "$1" | awk '/^HTTP\//{s=$2} END{print s}'; }
header_of() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1])).get(sys.argv[2], ""))' "$1" "$2"; }

$C -D "$W/h" -o /dev/null "http://app.a.localhost:$P_NG/x"
[[ $(st "$W/h") == 302 && $(loc "$W/h") == "http://auth.a.localhost:$P_NG/sso/login?rd="* ]] || fail "app.a anonymous: $(st "$W/h") $(loc "$W/h")"
$C -D "$W/h" -o /dev/null "http://app.b.localhost:$P_NG/x"
[[ $(st "$W/h") == 302 && $(loc "$W/h") == "http://auth.b.localhost:$P_NG/sso/login?rd="* ]] || fail "app.b anonymous: $(st "$W/h") $(loc "$W/h")"
ok "rehearsal: anonymous app.a goes to auth.a, app.b to auth.b (the sso_gateway dispatcher)"

$C -L -o "$W/page.html" "http://app.a.localhost:$P_NG/"
ACTION=$(sed -n 's/.*<form id="login" method="post" action="\([^"]*\)".*/\1/p' "$W/page.html")
[ -n "$ACTION" ] || fail "no login form at the OP"
$C -L -D "$W/h" -o "$W/a.json" --data-urlencode username=alice --data-urlencode password=alice-password "$OP$ACTION"
[[ $(st "$W/h") == 200 && $(header_of "$W/a.json" x-auth-request-user) == alice ]] || fail "login at app.a: $(st "$W/h")"
[[ $(header_of "$W/a.json" authorization) == "Bearer "* ]] || fail "no Authorization to the app"
ok "rehearsal: login as alice through nginx; app.a gets X-Auth-Request-User and Authorization"

$C -L -H 'X-Auth-Request-User: mallory' -o "$W/b.json" "http://app.b.localhost:$P_NG/"
[[ $(header_of "$W/b.json" x-auth-request-user) == alice ]] || fail "SSO at app.b: $(cat "$W/b.json")"
ok "rehearsal: SSO at app.b without a password; a forged X-Auth-Request-User is replaced"

curl -sS -X POST -d username=alice "$OP/__test/admin-logout" > /dev/null
for h in app.a app.b; do
  $C -D "$W/h" -o /dev/null "http://$h.localhost:$P_NG/"
  [[ $(st "$W/h") == 302 ]] || fail "$h still signed in after the OP logout: $(st "$W/h")"
done
ok "rehearsal: after an OP-side logout both apps send the browser to the login again"
echo "$PASS passed, 0 failed"
