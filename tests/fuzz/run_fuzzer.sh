#!/usr/bin/env bash
# Runs one libFuzzer target for a fixed time and prints a one-line summary of what it did (executions,
# executions per second, coverage: libFuzzer's cov = edges reached, ft = features) and PASS or FAIL.
# Used by ctest in the fuzz build (label fuzz) and by scripts/fuzz.
#
#   run_fuzzer.sh --binary PATH --seconds N --seeds DIR --work DIR [--dict FILE] [--summary FILE]
#                 [--timeout S] [--fresh] [--verbose] [-- MORE_LIBFUZZER_FLAGS...]
#
# Seeds are read from --seeds (the corpus kept in the repo) and never written to; what the run finds goes to
# WORK/corpus (kept between runs unless --fresh), crash inputs to WORK/artifacts/, the whole output to
# WORK/fuzz.log. Any crash, leak, timeout (an input running over --timeout seconds, default 25), out-of-memory
# or sanitizer report is a FAIL: the summary names the input that did it and how to replay it. Exit 0 on PASS.
set -uo pipefail

binary= seconds= seeds= work= dict= summary= timeout=25 fresh=0 verbose=0 extra=()
while (($#)); do
  case "$1" in
    --binary) binary=$2; shift 2 ;;
    --seconds) seconds=$2; shift 2 ;;
    --seeds) seeds=$2; shift 2 ;;
    --work) work=$2; shift 2 ;;
    --dict) dict=$2; shift 2 ;;
    --summary) summary=$2; shift 2 ;;
    --timeout) timeout=$2; shift 2 ;;
    --fresh) fresh=1; shift ;;
    --verbose) verbose=1; shift ;;
    --) shift; extra=("$@"); break ;;
    *) echo "run_fuzzer.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
if [[ -z $binary || -z $seconds || -z $seeds || -z $work ]]; then
  echo "run_fuzzer.sh: --binary, --seconds, --seeds and --work are required" >&2
  exit 2
fi
name=$(basename "$binary")

# The same sanitizer settings as the asan preset: leaks are reports; any report stops the run.
asan_options=detect_leaks=1:detect_stack_use_after_return=1:check_initialization_order=1:strict_init_order=1
export ASAN_OPTIONS=${ASAN_OPTIONS:-$asan_options}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

((fresh)) && rm -rf "$work/corpus"
rm -rf "$work/artifacts"
mkdir -p "$work/corpus" "$work/artifacts"
log=$work/fuzz.log
args=(-max_total_time="$seconds" -timeout="$timeout" -print_final_stats=1 -artifact_prefix="$work/artifacts/")
[[ -n $dict ]] && args+=(-dict="$dict")
args+=("${extra[@]}" "$work/corpus")
[[ -d $seeds ]] && args+=("$seeds")

if ((verbose)); then
  "$binary" "${args[@]}" 2>&1 | tee "$log"
  rc=${PIPESTATUS[0]}
else
  "$binary" "${args[@]}" >"$log" 2>&1
  rc=$?
fi

# libFuzzer's closing lines: "#123456  DONE   cov: 812 ft: 2911 corp: ..." and "stat::number_of_executed_units: N".
stat() { sed -n "s/^stat::$1: *\([0-9]*\).*/\1/p" "$log" | tail -1; }
execs=$(stat number_of_executed_units)
rate=$(stat average_exec_per_sec)
status_line=$(grep -E '^#[0-9]+.*cov: [0-9]+ ft: [0-9]+' "$log" | grep DONE | tail -1)
[[ -n $status_line ]] || status_line=$(grep -E '^#[0-9]+.*cov: [0-9]+ ft: [0-9]+' "$log" | tail -1)
cov=$(sed -n 's/.*cov: \([0-9]*\).*/\1/p' <<<"$status_line")
ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$status_line")
artifacts=$(find "$work/artifacts" -type f | sort)

result=PASS
if ((rc != 0)) || [[ -n $artifacts ]] || ! grep -q DONE <<<"$status_line"; then result=FAIL; fi
line=$(printf '%-24s execs %10s  exec/s %7s  cov %6s  ft %7s  %s' "$name" "${execs:-?}" "${rate:-?}" \
  "${cov:-?}" "${ft:-?}" "$result")
if [[ -n $summary ]]; then
  mkdir -p "$(dirname "$summary")"
  echo "$line" >"$summary"
fi

if [[ $result == FAIL ]]; then
  # What went wrong, from the first report line on (the sanitizer's or libFuzzer's own), then how to replay it.
  echo "---- $name: libFuzzer exited with $rc; the report (whole log: $log) ----"
  report='^==[0-9]+==|^FUZZ|runtime error|^ERROR: libFuzzer|uncaught|terminate called'
  first=$(grep -n -m1 -E "$report" "$log" | cut -d: -f1)
  if [[ -n $first ]]; then tail -n +"$first" "$log" | head -120; else tail -40 "$log"; fi
  echo "----"
  for artifact in $artifacts; do
    echo "CRASH INPUT: $artifact"
    echo "  replay:    $binary $artifact"
  done
  [[ -n $artifacts ]] || echo "(no crash input was written; see $log)"
fi
echo "$line"
[[ $result == PASS ]]
