#!/usr/bin/env bash
# The gtsim demo: installs what is missing, builds, then walks through a 3-region global table —
# a write replicating (with its measured lag), a conflict that last-writer-wins settles (and which
# write it dropped, and why), a clock-skew lesson, and kill -9 with catch-up — and stops cleanly.
set -euo pipefail
cd "$(dirname "$0")/.."
source tools/setup.sh
gtsim_setup gtsim gtsim-region

G=build/gtsim
export GTSIM_DIR
GTSIM_DIR=$(mktemp -d /tmp/gtsim-demo.XXXXXX)
trap '$G down >/dev/null 2>&1 || true; rm -rf "$GTSIM_DIR"' EXIT

bold() { printf '\n\033[1m%s\033[0m\n' "$*"; }
run() { printf '\033[2m$ gtsim %s\033[0m\n' "${*:2}"; "$@"; }
key='{"orderId":{"S":"o1"},"createdAt":{"N":"1"}}'
item() { printf '{"orderId":{"S":"o1"},"createdAt":{"N":"1"},"status":{"S":"%s"}}' "$1"; }
field() { python3 -c 'import json,sys; d=json.load(sys.stdin); print(eval(sys.argv[1]))' "$1"; }
now_ms() { date +%s%3N; }
stamp_of() { sed -n 's/.*write stamp .* (\([0-9]*\) us).*/\1/p'; }

bold "1. Three regions, every one writable; a table replicated to all three"
run $G up --regions us-east-1,us-west-2,eu-west-1
run $G create-table --region us-east-1 --table orders --hash-key orderId:S --range-key createdAt:N \
  --replicas us-east-1,us-west-2,eu-west-1 >/dev/null

bold "2. A write in us-east-1 reaches eu-west-1 asynchronously"
start=$(now_ms)
run $G put --region us-east-1 --table orders --item "$(item new)"
until $G get --region eu-west-1 --table orders --key "$key" >/dev/null 2>&1; do :; done
echo "a client polling eu-west-1 saw it $(( $(now_ms) - start )) ms after the put started (CLI start-up included)"
run $G get --region eu-west-1 --table orders --key "$key" --show-version
echo "writing 100 more orders in us-east-1 and us-west-2 so the lag figures have samples..."
for i in $(seq 2 51); do
  $G put --region us-east-1 --table orders --item "{\"orderId\":{\"S\":\"o$i\"},\"createdAt\":{\"N\":\"$i\"}}" 2>/dev/null
  $G put --region us-west-2 --table orders --item "{\"orderId\":{\"S\":\"w$i\"},\"createdAt\":{\"N\":\"$i\"}}" 2>/dev/null
done
sleep 0.5
run $G status

bold "3. A conflict: the same order changed in us-east-1 and us-west-2 while they cannot talk"
run $G partition us-east-1 us-west-2
east=$($G put --region us-east-1 --table orders --item "$(item shipped)" 2>&1 | tee /dev/stderr | stamp_of)
west=$($G put --region us-west-2 --table orders --item "$(item cancelled)" 2>&1 | tee /dev/stderr | stamp_of)
echo "both writes were acknowledged. Each region now shows its own:"
for r in us-east-1 us-west-2; do
  echo "  $r: $($G get --region $r --table orders --key "$key" | field 'd["Item"]["status"]["S"]')"
done
run $G heal
converged() {
  a=$($G get --region us-east-1 --table orders --key "$key" | field 'd["Item"]["status"]["S"]')
  b=$($G get --region us-west-2 --table orders --key "$key" | field 'd["Item"]["status"]["S"]')
  c=$($G get --region eu-west-1 --table orders --key "$key" | field 'd["Item"]["status"]["S"]')
  [ "$a" = "$b" ] && [ "$b" = "$c" ]
}
until converged; do sleep 0.05; done
echo "after healing, every region holds the same version:"
for r in us-east-1 us-west-2 eu-west-1; do
  echo "  $r: $($G get --region $r --table orders --key "$key" --show-version | field '"%s (written by %s at %s)" % (d["Item"]["status"]["S"], d["Version"]["Region"], d["Version"]["Time"])')"
done
if [ "$west" -gt "$east" ]; then winner="us-west-2 (cancelled)"; loser="us-east-1 (shipped)"; else winner="us-east-1 (shipped)"; loser="us-west-2 (cancelled)"; fi
echo "why: item-level last-writer-wins keeps the write with the later timestamp."
echo "  us-east-1 stamped 'shipped' at $east us, us-west-2 stamped 'cancelled' at $west us."
echo "  $winner wins everywhere; the write from $loser is silently lost - DynamoDB reports nothing."

bold "4. Clock skew: a region whose clock runs 2 s behind loses writes that are newer in real time"
run $G clock --region us-west-2 --skew -2s
run $G put --region us-east-1 --table orders --item "$(item packed)"
sleep 0.2
echo "200 ms later, in real time, us-west-2 writes 'returned':"
run $G put --region us-west-2 --table orders --item "$(item returned)" || true
sleep 0.2
echo "  us-west-2 now shows: $($G get --region us-west-2 --table orders --key "$key" | field 'd["Item"]["status"]["S"]') - its newer write lost, because its clock stamped it 2 s in the past"
run $G clock --region us-west-2 --skew 0

bold "5. kill -9 a region, keep writing elsewhere, restart it: it catches up, nothing acknowledged lost"
run $G kill --region us-west-2
for i in $(seq 1 20); do $G put --region us-east-1 --table orders --item "{\"orderId\":{\"S\":\"k$i\"},\"createdAt\":{\"N\":\"$i\"}}" 2>/dev/null; done
echo "20 orders written in us-east-1 while us-west-2 was down"
run $G restart --region us-west-2
count() { $G scan --region "$1" --table orders | field 'd["Count"]'; }
until [ "$(count us-west-2)" = "$(count us-east-1)" ]; do sleep 0.05; done
echo "items per region: us-east-1 $(count us-east-1), us-west-2 $(count us-west-2), eu-west-1 $(count eu-west-1)"
run $G status

bold "6. Stopping the cluster"
run $G down
echo "demo finished."
