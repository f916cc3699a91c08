# Shared by scripts that run `rowstream serve` (source it after `cd` to the repository):
#
#   rowstream_bin debug|release   sets $bin: $ROWSTREAM_BIN if set, else builds the binary
#   make_workdir                  sets $work (a temporary folder) and, on exit, stops the
#                                 server and removes $work
#   start_server ARGS...          runs "$bin" serve --bind 127.0.0.1:0 ARGS in the
#                                 background (log in $work/server.log), sets $server (its
#                                 PID) and $base (http://127.0.0.1:PORT) once it listens

rowstream_bin() {
  if [ -n "${ROWSTREAM_BIN:-}" ]; then
    bin=$ROWSTREAM_BIN
  elif [ "$1" = release ]; then
    cargo build -q --release -p rowstream-cli --bin rowstream
    bin=${CARGO_TARGET_DIR:-$PWD/target}/release/rowstream
  else
    cargo build -q -p rowstream-cli --bin rowstream
    bin=${CARGO_TARGET_DIR:-$PWD/target}/debug/rowstream
  fi
}

make_workdir() {
  work=$(mktemp -d)
  server=""
  trap stop_and_clean EXIT
}

stop_and_clean() {
  if [ -n "$server" ]; then
    kill "$server" 2>/dev/null || true
    wait "$server" 2>/dev/null || true
  fi
  rm -rf "$work"
}

start_server() {
  "$bin" serve --bind 127.0.0.1:0 "$@" >"$work/server.log" 2>&1 &
  server=$!
  base=""
  for _ in $(seq 1 300); do
    base=$(grep -o -m1 'listening on http://127\.0\.0\.1:[0-9]*' "$work/server.log" | sed 's/^listening on //' || true)
    [ -n "$base" ] && return 0
    kill -0 "$server" 2>/dev/null || { cat "$work/server.log"; echo "FAIL the server exited"; exit 1; }
    sleep 0.1
  done
  cat "$work/server.log"
  echo "FAIL the server did not start"
  exit 1
}
