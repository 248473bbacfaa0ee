#!/usr/bin/env bash
# Install what `make demo` / `make test` need on Debian, or fail loudly saying what is missing.
set -euo pipefail
mode="${1:-test}"
cd "$(dirname "$0")/../.."

need_pkgs=()
have() { command -v "$1" >/dev/null 2>&1; }

have node || need_pkgs+=(nodejs)
have npm || need_pkgs+=(npm)
have pkg-config || need_pkgs+=(pkg-config)
dpkg -s libssl-dev >/dev/null 2>&1 || need_pkgs+=(libssl-dev)
if [ "$mode" = test ]; then
  have redis-server || need_pkgs+=(redis-server)
  have redis-cli || need_pkgs+=(redis-tools)
  have nginx || need_pkgs+=(nginx-light)
  have chromium || need_pkgs+=(chromium)
  have chromedriver || need_pkgs+=(chromium-driver)
  have curl || need_pkgs+=(curl)
  have openssl || need_pkgs+=(openssl)
  # JDK + Maven for the Spring Boot example (examples/spring-boot, Java 17+)
  have javac || need_pkgs+=(openjdk-17-jdk-headless)
  have mvn || need_pkgs+=(maven)
  have unzip || need_pkgs+=(unzip)
  # libFuzzer (make test's fuzz smoke) is C++
  have c++ || need_pkgs+=(g++)
fi

if [ "$mode" = keycloak ]; then
  have java || need_pkgs+=(openjdk-17-jre-headless)
  have mvn || need_pkgs+=(maven)
  have unzip || need_pkgs+=(unzip)
fi

if [ ${#need_pkgs[@]} -gt 0 ]; then
  echo "install-deps: installing ${need_pkgs[*]}"
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then
    if have sudo; then SUDO="sudo"; else
      echo "install-deps: ERROR: missing ${need_pkgs[*]} and not root (no sudo). Install them: apt-get install ${need_pkgs[*]}" >&2
      exit 1
    fi
  fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq "${need_pkgs[@]}" >/dev/null
fi

# The test OP's Node packages (lockfile committed).
if [ ! -d tests/op/node_modules/oidc-provider ]; then
  echo "install-deps: npm ci for tests/op"
  (cd tests/op && npm ci --no-audit --no-fund --loglevel=error)
fi

if [ "$mode" = test ] && [ ! -d examples/express/node_modules/jose ]; then
  echo "install-deps: npm ci for examples/express"
  (cd examples/express && npm ci --no-audit --no-fund --loglevel=error)
fi

# The Spring Boot example's jar (tests/harness/spring.rs runs it), built with its JUnit tests
# when missing or older than pom.xml / src. The first build downloads Spring Boot and the Maven
# plugins from Maven Central (~70 MB into ~/.m2); later runs do nothing while it is current.
spring_dir=examples/spring-boot
spring_jar=$spring_dir/target/sso-spring-example.jar
java_major() { javac -version 2>&1 | sed -n 's/^javac \([0-9]*\).*/\1/p'; }
if [ "$mode" = test ] && have mvn && have javac; then
  if [ "$(java_major)" -lt 17 ] 2>/dev/null; then
    echo "install-deps: ERROR: $spring_dir needs a JDK 17+, javac is $(javac -version 2>&1): apt-get install openjdk-17-jdk-headless" >&2
    exit 1
  fi
  if [ ! -f "$spring_jar" ] || [ -n "$(find "$spring_dir/pom.xml" "$spring_dir/src" -newer "$spring_jar" -print -quit)" ]; then
    echo "install-deps: mvn package for $spring_dir (unit tests included)"
    if ! mvn -B -q -f "$spring_dir/pom.xml" package; then
      echo "install-deps: ERROR: mvn -B -q -f $spring_dir/pom.xml package failed (see above): $spring_jar not built" >&2
      exit 1
    fi
  fi
fi

# Keycloak (tests/keycloak, make demo-keycloak): fetched once with Maven into a cache outside
# the repository (deploy/scripts/keycloak.sh; version in deploy/keycloak/VERSION).
if [ "$mode" = test ] || [ "$mode" = keycloak ]; then
  bash deploy/scripts/keycloak.sh install || { echo "install-deps: ERROR: Keycloak could not be installed (see above)" >&2; exit 1; }
fi

# Verify, loudly.
missing=()
for b in node npm; do have "$b" || missing+=("$b"); done
if [ "$mode" = test ]; then
  for b in redis-server nginx chromium chromedriver curl openssl java javac mvn; do have "$b" || missing+=("$b"); done
fi
[ -d tests/op/node_modules/oidc-provider ] || missing+=("tests/op/node_modules (npm ci failed)")
if [ "$mode" = test ]; then
  [ -d examples/express/node_modules/jose ] || missing+=("examples/express/node_modules (npm ci failed)")
  [ -f "$spring_jar" ] || missing+=("$spring_jar (mvn package not run: JDK 17+ and Maven needed)")
fi
if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps: ERROR: still missing: ${missing[*]}" >&2
  exit 1
fi
echo "install-deps: ok ($mode)"
