# Shared by the broker benchmarks: start Brook or Apache Kafka 4.x (one KRaft node, default
# settings) on a free port with data under $work, and read a process's CPU and memory.
# Expects: $work, $classpath_file, $ticks; sets $broker_pid and $addr.

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
cpu_seconds() { awk -v t="$ticks" '{ printf "%.3f", ($14 + $15) / t }' "/proc/$1/stat"; }
rss_mb() { awk -v k="$2" '$1 == k":" { printf "%.1f", $2 / 1024 }' "/proc/$1/status"; }
await_port() {
  for _ in $(seq 1 300); do
    python3 -c "import socket,sys; socket.create_connection(('127.0.0.1', $1), 0.2)" 2>/dev/null && return 0
    sleep 0.2
  done
  echo "nothing listens on $1" >&2; return 1
}

start_brook() {
  local port; port=$(free_port)
  ./target/release/brook server --override "listeners=PLAINTEXT://127.0.0.1:$port" \
    --override "console.listener=127.0.0.1:0" \
    --override "log.dirs=$work/brook" >"$work/brook.log" 2>&1 &
  broker_pid=$!
  await_port "$port"
  addr="127.0.0.1:$port"
}

start_kafka() {
  local port controller cp; port=$(free_port); controller=$(free_port); cp=$(cat "$classpath_file")
  cat >"$work/kafka.properties" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$controller
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$controller
advertised.listeners=PLAINTEXT://127.0.0.1:$port
controller.listener.names=CONTROLLER
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=$work/kafka
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
PROPS
  java -cp "$cp" kafka.tools.StorageTool format -t 4L6g3nShT-eMCtK--X86sw -c "$work/kafka.properties" >/dev/null 2>&1
  java -cp "$cp" kafka.Kafka "$work/kafka.properties" >"$work/kafka.log" 2>&1 &
  broker_pid=$!
  await_port "$port"
  addr="127.0.0.1:$port"
  # A fresh KRaft node takes a moment before it creates topics: wait until a produce succeeds.
  for _ in $(seq 1 60); do
    ./target/release/brook perf produce --topic warmup --num-records 10 --record-size 10 --throughput -1 \
      --producer-props "bootstrap.servers=$addr" acks=all >/dev/null 2>&1 && break
    sleep 0.5
  done
}

