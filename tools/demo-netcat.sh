#!/usr/bin/env bash
# `make demo-netcat`: the master's protocol by hand. A master and one worker
# on loopback; then a transcript of what you would type:
#   1. text mode: WORKERS, JOBS, HELP and QUIT through bash's /dev/tcp;
#   2. binary mode: a Ping and a ListWorkers built with `./frame encode`,
#      shown as hex, sent with netcat, the reply decoded with `./frame decode`;
#   3. the same Ping with one payload byte flipped: the master answers an
#      Error frame (code 1, BAD_FRAME) naming the CRC mismatch, and closes.
# The master tells the three protocols (text, frames, HTTP) apart by
# peeking at a connection's first bytes (src/master/mod.rs); the frame
# layout is in protocol.md. Exits 1 if a reply is not the one expected.
# Installs netcat-openbsd if `nc` is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
. tools/cluster.sh

if ! command -v nc >/dev/null; then
    echo "== installing netcat-openbsd" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y netcat-openbsd >/dev/null 2>&1 ||
        { apt-get update >/dev/null && apt-get install -y netcat-openbsd >/dev/null; }
fi

fail() {
    echo "demo-netcat: $*" >&2
    exit 1
}

# Bytes on stdin as hex, 20 to a line, indented.
hexdump() {
    od -An -tx1 -v | tr -s ' \n' ' ' | fold -w 60 | sed 's/^ */    /'
    echo
}

start_master
start_worker
wait_workers 1
host=${master%:*}
port=${master##*:}
echo "== a master on $master and one worker; everything below talks to port $port"

echo
echo "== 1. text mode: lines in, lines out; each reply ends with a line OK... or ERR..."
echo "\$ exec 3<>/dev/tcp/$host/$port; printf 'WORKERS\\nJOBS\\nHELP\\nQUIT\\n' >&3; cat <&3"
exec 3<>"/dev/tcp/$host/$port"
printf 'WORKERS\nJOBS\nHELP\nQUIT\n' >&3
text=$(cat <&3)
exec 3<&-
echo "$text" | sed 's/^/    /'
echo "$text" | grep -q "^OK 1 worker" || fail "text mode did not list the worker"

echo
echo "== 2. binary mode: frames (magic A7 53, version 01, type, u32 length, payload, CRC-32)"
echo "\$ ./frame encode 'Ping nonce=42' | od -An -tx1"
ping_bytes=$(./frame encode 'Ping nonce=42' | od -An -tx1 -v | tr -d ' \n')
printf '%s' "$ping_bytes" | sed 's/\(..\)/\1 /g' | fold -w 60 | sed 's/^/    /'
echo
echo "    a7 53 = magic, 01 = version, 04 = Ping, 00 00 00 08 = 8 payload bytes,"
echo "    00 .. 2a = nonce 42 (u64 big-endian), last 4 = CRC-32 of everything before"
echo
echo "\$ printf '%s\\n' 'Ping nonce=42' 'ListWorkers' | ./frame encode | nc -N $host $port | ./frame decode"
reply=$(printf '%s\n' 'Ping nonce=42' 'ListWorkers' | ./frame encode |
    timeout 10 nc -N "$host" "$port" | ./frame decode) || fail "no binary reply"
echo "$reply" | sed 's/^/    /'
echo "$reply" | grep -q "^Pong nonce=42$" || fail "no Pong nonce=42 in the reply"
echo "$reply" | grep -q "^WorkerList workers=\[{id=1 " || fail "no WorkerList with worker 1"
echo "    (nc -N half-closes after sending; the master reads end of stream and closes too)"

echo
echo "== 3. the same Ping with its last payload byte flipped (2a -> d5); the CRC no longer matches"
bad_bytes=${ping_bytes:0:30}d5${ping_bytes:32}
printf '%s' "$bad_bytes" | sed 's/\(..\)/\1 /g' | fold -w 60 | sed 's/^/    /'
echo
echo "\$ printf '\\xa7\\x53...' | nc -N $host $port > reply.bin; od -An -tx1 reply.bin; ./frame decode < reply.bin"
reply_file="$cluster_dir/reply.bin"
printf '%b' "$(printf '%s' "$bad_bytes" | sed 's/\(..\)/\\x\1/g')" |
    timeout 10 nc -N "$host" "$port" >"$reply_file" || true
echo "    the reply's bytes:"
hexdump <"$reply_file"
decoded=$(./frame decode <"$reply_file") || fail "the reply is not a frame"
echo "    decoded:"
echo "    $decoded"
echo "$decoded" | grep -q '^Error code=1 message="CRC mismatch: frame says 0xF8B14BCC' ||
    fail "the flipped byte did not earn a CRC error"
echo "    code 1 is BAD_FRAME (protocol.md, 'Invalid frames'): the master answers, then closes this"
echo "    connection only; it still serves the others:"
echo "\$ ./client --master $master ping"
./client --master "$master" ping | sed 's/^/    /'
grep -h -m1 "CRC mismatch" "$cluster_dir/master.log" | sed "s/^/    master.log: /" || true
echo "== stopping"
