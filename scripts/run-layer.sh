#!/usr/bin/env bash
# Runs one test layer, shows its output, and fails if it failed OR ran no test.
#   scripts/run-layer.sh NAME KIND -- command...
# KIND tells how to count executed tests: cargo | node | pytest.
# Appends "NAME passed failed" to target/test-layers.txt for the final summary.
set -uo pipefail
name=$1; kind=$2; shift 3
mkdir -p target
log=target/test-layer-$name.log
printf '\n\033[1m===== test layer: %s =====\033[0m\n' "$name"
"$@" 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
case $kind in
  cargo)  passed=$(grep -aoE 'test result: [a-zA-Z]+\. [0-9]+ passed' "$log" | awk '{s+=$4} END {print s+0}')
          failed=$(grep -aoE '[0-9]+ passed; [0-9]+ failed' "$log" | awk '{s+=$3} END {print s+0}') ;;
  node)   passed=$(grep -aoE '^(#|ℹ) pass [0-9]+' "$log" | awk '{s+=$3} END {print s+0}')
          failed=$(grep -aoE '^(#|ℹ) fail [0-9]+' "$log" | awk '{s+=$3} END {print s+0}') ;;
  pytest) passed=$(grep -aoE '[0-9]+ passed' "$log" | tail -1 | awk '{print $1+0}')
          failed=$(grep -aoE '[0-9]+ failed' "$log" | tail -1 | awk '{print $1+0}') ;;
  *) echo "unknown kind $kind"; exit 2 ;;
esac
passed=${passed:-0}; failed=${failed:-0}
echo "$name $passed $failed" >> target/test-layers.txt
if [ "$rc" != 0 ]; then echo "layer $name FAILED (exit $rc)"; exit "$rc"; fi
if [ "$passed" -eq 0 ]; then echo "layer $name ran no test: failing"; exit 1; fi
echo "layer $name: $passed passed, $failed failed"
