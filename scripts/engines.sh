#!/usr/bin/env bash
# Starts the engines the test suite talks to, when they are installed but not listening, and etcd (installed from
# Debian's etcd-server when missing) on 127.0.0.1:2379 with a fresh data dir. Prints one line per engine.
# Used by .ci/run; developers can run it too. Only loopback addresses. With --no-install (the test suite's global
# setup) nothing is installed: only engines whose binaries are present are started.
set -u
install=1
[ "${1:-}" = "--no-install" ] && install=0

listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_port() { # port seconds
  local deadline=$((SECONDS + $2))
  while ! listening "$1"; do
    [ $SECONDS -ge $deadline ] && return 1
    sleep 0.2
  done
}

start() { # name port command...
  local name=$1 port=$2
  shift 2
  if listening "$port"; then
    echo "engines: $name already listening on $port"
    return 0
  fi
  if ! command -v "$1" >/dev/null 2>&1 && [ ! -x "$1" ]; then
    echo "engines: $name not installed ($1 missing)"
    return 1
  fi
  "$@" >/dev/null 2>&1 || true
  if wait_port "$port" 30; then echo "engines: started $name on $port"; else echo "engines: $name did not come up on $port"; return 1; fi
}

start_etcd() {
  if listening 2379; then
    echo "engines: etcd already listening on 2379"
    return 0
  fi
  if ! command -v etcd >/dev/null 2>&1; then
    if [ $install = 0 ]; then echo "engines: etcd not installed (etcd missing)"; return 1; fi
    echo "engines: installing etcd-server (apt-get)"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq etcd-server etcd-client) >/tmp/phobos-etcd-install.log 2>&1 \
      || { echo "engines: etcd-server install failed (see /tmp/phobos-etcd-install.log)"; return 1; }
  fi
  local dir
  dir=$(mktemp -d /tmp/phobos-etcd.XXXXXX)
  nohup etcd --name phobos-test --data-dir "$dir" \
    --listen-client-urls http://127.0.0.1:2379 --advertise-client-urls http://127.0.0.1:2379 \
    --listen-peer-urls http://127.0.0.1:2380 --initial-advertise-peer-urls http://127.0.0.1:2380 \
    --initial-cluster phobos-test=http://127.0.0.1:2380 >"$dir.log" 2>&1 &
  local deadline=$((SECONDS + 30))
  until ETCDCTL_API=3 etcdctl --endpoints=127.0.0.1:2379 endpoint health >/dev/null 2>&1; do
    if [ $SECONDS -ge $deadline ]; then echo "engines: etcd did not become healthy (log: $dir.log)"; return 1; fi
    sleep 0.3
  done
  echo "engines: started etcd on 2379 (data $dir)"
}

status=0
start nats 4222 start-stop-daemon --start --oknodo --background --exec /usr/sbin/nats-server -- -a 127.0.0.1 -p 4222 -js -sd /var/lib/nats-server -l /var/log/nats-server.log || status=1
start redis 6379 redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log || status=1
start rabbitmq 5672 rabbitmq-server -detached || status=1
start mosquitto 1883 mosquitto -d -c /etc/mosquitto/mosquitto.conf || status=1
start_etcd || status=1
exit $status
