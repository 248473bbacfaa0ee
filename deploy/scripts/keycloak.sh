#!/usr/bin/env bash
# Keycloak for the test suite and `make demo-keycloak`, from Maven Central
# (org.keycloak:keycloak-quarkus-dist, a zip), unpacked once into a cache outside the repository.
#   keycloak.sh home      print the install directory (installing it when missing)
#   keycloak.sh install   install it, quietly when already there
# SSO_KEYCLOAK_HOME overrides the directory; the version is deploy/keycloak/VERSION.
set -euo pipefail
cd "$(dirname "$0")/../.."
version="$(tr -d '[:space:]' < deploy/keycloak/VERSION)"
cache="${XDG_CACHE_HOME:-$HOME/.cache}/sso-gateway"
home="${SSO_KEYCLOAK_HOME:-$cache/keycloak-$version}"

install() {
  if [ -x "$home/bin/kc.sh" ]; then return 0; fi
  for b in java mvn unzip; do
    command -v "$b" >/dev/null 2>&1 || { echo "keycloak: ERROR: '$b' is missing (install-deps.sh installs it)" >&2; exit 1; }
  done
  echo "keycloak: fetching org.keycloak:keycloak-quarkus-dist:$version:zip with Maven" >&2
  mvn -B -q dependency:get -Dartifact="org.keycloak:keycloak-quarkus-dist:$version:zip" -Dtransitive=false >&2 || {
    echo "keycloak: ERROR: Maven could not fetch org.keycloak:keycloak-quarkus-dist:$version:zip" >&2; exit 1; }
  repo="$(mvn -B -q help:evaluate -Dexpression=settings.localRepository -DforceStdout 2>/dev/null || true)"
  [ -d "$repo" ] || repo="$HOME/.m2/repository"
  zip="$repo/org/keycloak/keycloak-quarkus-dist/$version/keycloak-quarkus-dist-$version.zip"
  [ -f "$zip" ] || { echo "keycloak: ERROR: $zip not found after the Maven fetch" >&2; exit 1; }
  tmp="$(mktemp -d "$cache.unzip.XXXXXX" 2>/dev/null || { mkdir -p "$cache"; mktemp -d "$cache.unzip.XXXXXX"; })"
  unzip -q "$zip" -d "$tmp"
  mkdir -p "$(dirname "$home")"
  rm -rf "$home"
  mv "$tmp/keycloak-$version" "$home"
  rm -rf "$tmp"
  [ -x "$home/bin/kc.sh" ] || { echo "keycloak: ERROR: $home/bin/kc.sh missing after unzip" >&2; exit 1; }
  echo "keycloak: installed $version in $home" >&2
}

case "${1:-home}" in
  install) install ;;
  home) install; echo "$home" ;;
  *) echo "usage: keycloak.sh [home|install]" >&2; exit 2 ;;
esac
