#!/usr/bin/env bash
# SCIM compliance from outside: the scim2-tester suite, run through scim2-cli (`scim test`),
# against a live `brandcast serve` on SQLite and on PostgreSQL (a throwaway database, created
# and dropped). Fails unless every check of both runs is SUCCESS: an ERROR, a DEVIATION, a
# SKIPPED check or the service not answering are all failures.
#
# Usage: tests/scim/compliance.sh [sqlite|postgres]...   (default: both)
#   BRANDCAST_TEST_DATABASE_URL  the PostgreSQL server (default postgresql://postgres@127.0.0.1:5432/postgres)
#   SCIM_TESTER_VENV             where the pinned tools are installed (default .venv-scim)
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT="$PWD"

# The suite's versions, pinned: a new scim2-tester may add checks, and is adopted on purpose.
PINS=(scim2-cli==0.6.0 scim2-tester==0.5.2 scim2-client==0.13.2 scim2-models==0.12.3)
TOOLS="${SCIM_TESTER_VENV:-$ROOT/.venv-scim}"
PG_SERVER="${BRANDCAST_TEST_DATABASE_URL:-postgresql://postgres@127.0.0.1:5432/postgres}"
BACKENDS=("$@")
[ "${#BACKENDS[@]}" -gt 0 ] || BACKENDS=(sqlite postgres)

WORK="$(mktemp -d)"
SERVER_PID=""
PG_DB=""

stop_server() {
  if [ -n "$SERVER_PID" ]; then
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=""
  fi
}

pg_admin() {  # pg_admin create|drop NAME
  "$ROOT/.venv/bin/python" - "$PG_SERVER" "$1" "$2" <<'PY'
import asyncio, sys
import asyncpg
from sqlalchemy.engine import make_url

async def main(url: str, action: str, name: str) -> None:
    url = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    conn = await asyncpg.connect(url, timeout=10)
    try:
        if action == "create":
            await conn.execute(f'CREATE DATABASE "{name}"')
        else:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()

asyncio.run(main(*sys.argv[1:]))
PY
}

cleanup() {
  stop_server
  if [ -n "$PG_DB" ]; then pg_admin drop "$PG_DB" || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

install_tools() {
  local stamp="$TOOLS/.pins"
  if [ -x "$TOOLS/bin/scim" ] && [ "$(cat "$stamp" 2>/dev/null)" = "${PINS[*]}" ]; then
    return
  fi
  echo "installing ${PINS[*]} into $TOOLS"
  rm -rf "$TOOLS"
  python3 -m venv "$TOOLS"
  "$TOOLS/bin/pip" install --quiet --disable-pip-version-check "${PINS[@]}"
  echo "${PINS[*]}" >"$stamp"
}

# run_suite NAME DATABASE_URL: migrate, mint an IdP's token, serve, run `scim test`, count
run_suite() {
  local name="$1" url="$2" port base token status=0
  echo "-- scim2-tester against a service on $name"
  port="$("$ROOT/.venv/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
  base="http://127.0.0.1:$port"
  export BRANDCAST_DATABASE_URL="$url"
  export BRANDCAST_RATE_LIMIT_PER_MINUTE=0 BRANDCAST_RUN_SCHEDULER=false BRANDCAST_LOG_LEVEL=WARNING
  export BRANDCAST_JWT_ALGORITHMS=HS256 BRANDCAST_JWT_SECRET="scim-compliance-secret-of-32-bytes-or-more"
  "$ROOT/.venv/bin/brandcast" migrate >/dev/null
  # exactly the scope an identity provider's token holds
  token="$("$ROOT/.venv/bin/brandcast" tokens create --name scim-compliance \
    --scope employees:write 2>/dev/null | tail -n 1)"
  "$ROOT/.venv/bin/brandcast" serve --skip-migrate --port "$port" >"$WORK/server-$name.log" 2>&1 &
  SERVER_PID=$!
  for _ in $(seq 1 60); do curl -fsS "$base/healthz" >/dev/null 2>&1 && break; sleep 0.5; done
  if ! curl -fsS "$base/healthz" >/dev/null 2>&1; then
    echo "FAIL: the service on $name did not start:"; tail -n 40 "$WORK/server-$name.log"
    return 1
  fi

  local started=$SECONDS out="$WORK/scim-$name.txt"
  set +e
  SCIM_CLI_HEADERS="Authorization: Bearer $token" timeout 600 \
    "$TOOLS/bin/scim" --url "$base/scim/v2" test --verbose >"$out" 2>&1
  status=$?
  set -e
  stop_server
  # one line per check, "STATUS check_name", the reason indented below it
  sed -e 's/\x1b\[[0-9;]*m//g' "$out" | cut -c -600
  local passed failed
  passed="$(sed -e 's/\x1b\[[0-9;]*m//g' "$out" | grep -cE '^SUCCESS ' || true)"
  failed="$(sed -e 's/\x1b\[[0-9;]*m//g' "$out" \
    | grep -cE '^(COMPLIANT|ACCEPTABLE|DEVIATION|ERROR|CRITICAL|SKIPPED) ' || true)"
  echo "scim2-tester on $name: exit $status"
  echo "$passed passed, $failed failed in $((SECONDS - started))s"
  if [ "$status" -ne 0 ] || [ "$failed" -ne 0 ] || [ "$passed" -eq 0 ]; then
    echo "FAIL: scim2-tester on $name (server log, last 40 lines):"
    tail -n 40 "$WORK/server-$name.log"
    return 1
  fi
}

install_tools
overall=0
for backend in "${BACKENDS[@]}"; do
  case "$backend" in
    sqlite)
      run_suite sqlite "sqlite:///$WORK/scim.db" || overall=1
      ;;
    postgres)
      PG_DB="brandcast_scim_$$"
      if ! pg_admin create "$PG_DB"; then
        echo "FAIL: PostgreSQL cannot be reached at $PG_SERVER" >&2
        PG_DB=""
        overall=1
        continue
      fi
      pg_url="$("$ROOT/.venv/bin/python" -c 'import sys; from sqlalchemy.engine import make_url; print(make_url(sys.argv[1]).set(database=sys.argv[2]).render_as_string(hide_password=False))' "$PG_SERVER" "$PG_DB")"
      run_suite postgres "$pg_url" || overall=1
      pg_admin drop "$PG_DB" || true
      PG_DB=""
      ;;
    *)
      echo "unknown backend '$backend' (sqlite or postgres)" >&2
      exit 2
      ;;
  esac
done
exit "$overall"
