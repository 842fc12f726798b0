#!/usr/bin/env bash
# Makes a fresh machine ready for Kurado and its tests. Idempotent; fast when nothing is missing.
#  - installs what Kurado needs from Debian when missing (as root): rrdtool, rrdcached, fonts for
#    the graphs; with --test also chromium (the browser tests drive Debian's, never a download)
#    and systemd (for systemd-analyze), and the servers the pull-plugin tests start privately on
#    free loopback ports (nginx, apache2, redis-server, memcached), never as system daemons;
#  - installs the npm dependencies when node_modules is missing;
#  - checks that MariaDB, RabbitMQ and Mosquitto answer, and says which one does not and
#    how to start it;
#  - with --test, enables RabbitMQ's MQTT plugin on the local RabbitMQ, listening on
#    127.0.0.1:1884 (1883 is Mosquitto's), and checks that it answers.
set -euo pipefail
cd "$(dirname "$0")/.."

want_test=0
want_services=0
for arg in "$@"; do
  case "$arg" in
    --test) want_test=1; want_services=1 ;;
    --services) want_services=1 ;;
    *) echo "usage: scripts/setup.sh [--test] [--services]" >&2; exit 2 ;;
  esac
done

packages=(rrdtool rrdcached fonts-dejavu-core)
binaries=(/usr/bin/rrdtool /usr/bin/rrdcached /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf)
if [ "$want_test" = 1 ]; then
  # systemd: only for `systemd-analyze verify` of templates/systemd. Installing the package on a
  # machine that boots without systemd changes nothing that runs: init comes from systemd-sysv,
  # which is not pulled in, and the maintainer scripts skip the daemon when it is not PID 1.
  # mosquitto-clients: mosquitto_pub is the MQTT 3.1 client of the RabbitMQ MQTT test.
  packages+=(chromium systemd nginx apache2 redis-server memcached mosquitto-clients)
  binaries+=(/usr/bin/chromium /usr/bin/systemd-analyze /usr/sbin/nginx /usr/sbin/apache2 /usr/bin/redis-server
    /usr/bin/memcached /usr/bin/mosquitto_pub)
fi

missing=()
for i in "${!packages[@]}"; do
  [ -e "${binaries[$i]}" ] || missing+=("${packages[$i]}")
done
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "setup: missing Debian packages: ${missing[*]}; run as root: sudo $0 $*" >&2
    exit 1
  fi
  echo "setup: installing ${missing[*]} from Debian"
  export DEBIAN_FRONTEND=noninteractive
  # Debian's postinst scripts start nginx and apache2 on port 80, memcached on 11211 and
  # redis-server on 6379 (maybe the machine's own Redis port). The tests start private instances
  # on free ports, so the system daemons stay off: policy-rc.d exit 101 means "do not start".
  policy=/usr/sbin/policy-rc.d
  own_policy=0
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy"
    chmod 755 "$policy"
    own_policy=1
    trap 'rm -f "$policy"' EXIT
  fi
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  if [ "$own_policy" = 1 ]; then
    rm -f "$policy"
    trap - EXIT
  fi
  for daemon in nginx apache2 memcached redis-server; do
    case " ${missing[*]} " in *" $daemon "*) ;; *) continue ;; esac
    # ...nor at boot (only the ones installed here: a site's own nginx is left alone).
    if [ -d /run/systemd/system ]; then
      systemctl disable --now "$daemon" >/dev/null 2>&1 || true
    elif command -v update-rc.d >/dev/null; then
      update-rc.d "$daemon" disable >/dev/null 2>&1 || true
    fi
  done
fi
if [ "$want_test" = 1 ] && command -v ss >/dev/null && ss -ltnpH 'sport = :80' | grep -qE 'nginx|apache2'; then
  echo "setup: note: a system nginx/apache2 holds port 80; the tests do not need it (they use free ports)" >&2
fi

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "setup: installing npm dependencies (npm ci)"
  npm ci --no-audit --no-fund --loglevel=error
fi

if [ "$want_services" = 1 ]; then
  failed=0
  check() { # name host port how-to-start
    if ! timeout 3 bash -c "exec 3<>/dev/tcp/$2/$3" 2>/dev/null; then
      echo "setup: $1 does not answer on $2:$3; start it with: $4" >&2
      failed=1
    fi
  }
  check MariaDB 127.0.0.1 3306 "start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd"
  check RabbitMQ 127.0.0.1 5672 "rabbitmq-server -detached"
  check Mosquitto 127.0.0.1 1883 "mosquitto -d -c /etc/mosquitto/mosquitto.conf"
  [ "$failed" = 0 ] || exit 1
fi

# RabbitMQ's MQTT plugin (agents → RabbitMQ → `receive --amqp`). Its default port 1883 is
# Mosquitto's, so it listens on 127.0.0.1:1884: in rabbitmq.conf for every later boot, and
# set in the running node before the plugin starts, so nothing needs a restart (a restart would
# cut every other client of this RabbitMQ).
rabbitmq_mqtt_address=127.0.0.1:1884
answers() { timeout 3 bash -c "exec 3<>/dev/tcp/${1%:*}/${1##*:}" 2>/dev/null; }
if [ "$want_test" = 1 ] && ! answers "$rabbitmq_mqtt_address"; then
  if [ "$(id -u)" != 0 ]; then
    echo "setup: RabbitMQ's MQTT plugin does not answer on $rabbitmq_mqtt_address; run as root: sudo $0 $*" >&2
    exit 1
  fi
  rabbitmq_conf=$(rabbitmq-diagnostics -q --formatter json status |
    node -e 'const s=JSON.parse(require("fs").readFileSync(0,"utf8"));process.stdout.write((s.config_files??[])[0]??"")')
  rabbitmq_conf=${rabbitmq_conf:-/etc/rabbitmq/rabbitmq.conf}
  listener_line="mqtt.listeners.tcp.default = $rabbitmq_mqtt_address"
  if ! grep -qxF "$listener_line" "$rabbitmq_conf" 2>/dev/null; then
    if grep -q '^[[:space:]]*mqtt\.listeners\.tcp' "$rabbitmq_conf" 2>/dev/null; then
      echo "setup: $rabbitmq_conf sets another MQTT listener; the tests expect '$listener_line'" >&2
      exit 1
    fi
    echo "setup: $rabbitmq_conf: adding '$listener_line'"
    printf '%s\n' "$listener_line" >>"$rabbitmq_conf"
  fi
  echo "setup: enabling RabbitMQ's MQTT plugin on $rabbitmq_mqtt_address"
  rabbitmqctl -q eval "application:load(rabbitmq_mqtt), application:set_env(rabbitmq_mqtt, tcp_listeners, [{\"${rabbitmq_mqtt_address%:*}\", ${rabbitmq_mqtt_address##*:}}])." >/dev/null
  rabbitmq-plugins -q enable rabbitmq_mqtt >/dev/null
  for _ in 1 2 3 4 5 6 7 8 9 10; do answers "$rabbitmq_mqtt_address" && break; sleep 1; done
  if ! answers "$rabbitmq_mqtt_address"; then
    echo "setup: RabbitMQ's MQTT plugin is enabled but nothing answers on $rabbitmq_mqtt_address;" \
      "see rabbitmq-diagnostics listeners and the RabbitMQ log" >&2
    exit 1
  fi
fi
# An MQTT session, not only an open port: the routing key kurado.setup-check reaches no queue.
if [ "$want_test" = 1 ] && ! timeout 10 mosquitto_pub -h "${rabbitmq_mqtt_address%:*}" -p "${rabbitmq_mqtt_address##*:}" \
  -u guest -P guest -q 1 -t kurado/setup-check -m ok; then
  echo "setup: RabbitMQ's MQTT plugin on $rabbitmq_mqtt_address refused an MQTT publish (as guest)" >&2
  exit 1
fi
echo "setup: ready"
