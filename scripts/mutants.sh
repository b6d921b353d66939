#!/usr/bin/env bash
# Mutation check of the strategies' rules. In a scratch copy of the repository, each rule of
# STRATEGIES.md that a small slip could break is broken on purpose, one at a time, and the
# Core tests are run: they must fail ("killed"). A mutant that passes ("survived") is a rule
# no test pins down; the answer is a stronger test (Tests/CoreTests/RuleTests.swift), not a
# weaker mutant. Exits non-zero when a mutant survives, does not build, or its snippet is gone.
#
#   scripts/mutants.sh [--working-tree] [swift build flags…]
#
# `make mutants` runs it with llama.cpp's pkg-config path and rpath: the package needs
# llama.cpp to build even though the Core tests use a scripted model. The copy is of HEAD
# (commit first), or with --working-tree of the files in the working tree (tracked and new,
# ignored ones left out); it is built once, and removed at the end. MUTANTS_FILTER narrows
# the tests run (default CoreTests; RuleTests shows that those alone kill every mutant);
# MUTANTS_ONLY=TEXT runs only the mutants whose name contains TEXT.
. "$(dirname "$0")/lib.sh"

root="$(cd "$(dirname "$0")/.." && git rev-parse --show-toplevel)"
from=HEAD
while [ $# -gt 0 ]; do
  case "$1" in
    --working-tree) from=worktree; shift ;;
    *) break ;;
  esac
done
swift_flags=("$@")
filter="${MUTANTS_FILTER:-CoreTests}"

# name | file under Sources/Core | text in the file (exactly once) | its replacement
names=() files=() olds=() news=()
mutant() { names+=("$1"); files+=("$2"); olds+=("$3"); news+=("$4"); }

mutant "CGRS: no bans when suppression fires" Strategies/CGRS.swift \
  'decision.banned.formUnion(triggerIds)' \
  '_ = triggerIds   // mutant: nothing banned'
mutant "CGRS: another probe cue" Strategies/CGRS.swift \
  'public static let defaultCue = "**Final Answer**\n\\boxed{"' \
  'public static let defaultCue = "**Final Answer**\n\\boxed"'
mutant "CGRS: bans outside thinking" Strategies/CGRS.swift \
  'guard view.phase == .thinking, state.p > 0, !triggerIds.isEmpty else { return }' \
  'guard state.p > 0, !triggerIds.isEmpty else { return }'
mutant "DEER: another probe cue" Strategies/DEER.swift \
  'public static let defaultCue = "\n**Final Answer**\n\\boxed"' \
  'public static let defaultCue = "\n**Final Answer**\n\\boxed{"'
mutant "budget: extension text Hmm" Strategies/BudgetForcing.swift \
  'public var ignore = "Wait"' \
  'public var ignore = "Hmm"'
mutant "budget: forced end without the cue" Strategies/BudgetForcing.swift \
  'tokens += try env.tokenize("\n" + cue)' \
  'tokens += try env.tokenize("\n")'
mutant "NoWait: masks in the answer too" Strategies/NoWait.swift \
  $'        guard view.phase == .thinking else { return }\n        decision.banned.formUnion(maskedSet)' \
  '        decision.banned.formUnion(maskedSet)'
mutant "SwiReasoning: lock ignored" Strategies/SwiReasoning.swift \
  '} else if !state.latent && h > state.ref && state.steps >= window && !state.locked {' \
  '} else if !state.latent && h > state.ref && state.steps >= window {'
mutant "SwiReasoning: voided switch not undone" Strategies/SwiReasoning.swift \
  '(state.latent, state.steps, state.ref) = b' \
  '_ = b'
mutant "ThinkBrake: < instead of <=" Strategies/ThinkBrake.swift \
  'let brakes = margin <= threshold' \
  'let brakes = margin < threshold'
mutant "H2O: window without the incoming token" KVPolicies.swift \
  'let older = entries.dropLast(min(max(0, c.recent - incoming), entries.count))' \
  'let older = entries.dropLast(min(c.recent, entries.count))'
mutant "budget: forces while tokens are still queued" Strategies/BudgetForcing.swift \
  ', !state.forcedEnd, view.queuedForced == 0 else { return }' \
  ', !state.forcedEnd else { return }'
mutant "session: a replaced token not shown to observeForced" Session.swift \
  $'joined()))"))\n        } else {\n            return (sampled, .explicit)' \
  $'joined()))"))\n            return (token, .forced)\n        } else {\n            return (sampled, .explicit)'
mutant "served: the greedy shortcut ignores the bans" SessionSteering.swift \
  'let best = drawn.top.sorted(by: { $0.logit > $1.logit }).first(where: { !wanted.banned.contains($0.id) }) {' \
  'let best = drawn.top.sorted(by: { $0.logit > $1.logit }).first {'
mutant "served: a changed request is not drawn again" SessionSteering.swift \
  'guard !wanted.draws(as: asked) else { return drawn.token }' \
  'guard false else { return drawn.token }'
mutant "bracket: unseen tokens capped by the smallest known, not the server's top" PartialDistribution.swift \
  'unseenAtMost = top.prefix(k).map(\.logit).min() ?? 0' \
  'unseenAtMost = top.map(\.logit).min() ?? 0'
mutant "bracket: the upper end counts the known tokens as unseen" PartialDistribution.swift \
  'let unseen = max(1, vocabularySize - top.count)' \
  'let unseen = max(1, vocabularySize)'

# settings changed mid-run (the workbench's command line)
mutant "settings: the sampler keeps the old parameters" SessionSettings.swift \
  $'        sampler = Sampler(parameters: p)\n' \
  $'        _ = p   // mutant: the sampler is not told\n'
mutant "settings: a new seed does not restart the generator" SessionSettings.swift \
  'if p.seed != old.seed { state.reseed(p.seed) }' \
  'if p.seed != old.seed { _ = p.seed }   // mutant'
mutant "settings: max-tokens raised does not go on" SessionSettings.swift \
  'try rewind(toPosition: promptTokens.count + records.count - 1)' \
  '_ = 0   // mutant'
mutant "settings: a new problem loses the parameters of strategies that are off" SessionSettings.swift \
  'for s in other.roster.all {' \
  'for s in other.roster.all where other.roster.enabled.contains(s.id) {'
mutant "settings: + and - step off the multiples" Parameters.swift \
  'var next = up ? (v / step + 1) * step : (v % step == 0 ? v - step : (v / step) * step)' \
  'var next = up ? v + step : v - step'
mutant "trace: a whole number written with its .0 (not JSONEncoder's bytes)" TraceLineEncoder.swift \
  'if s.hasSuffix(".0") { s.removeLast(2) }' \
  'if s.hasSuffix(".00") { s.removeLast(2) }   // mutant'
mutant "vocabulary scans: never reused between sessions on a model" Backend.swift \
  'if let tokens = done[rule] { return tokens }' \
  '_ = done[rule]   // mutant: every session scans again'

# MUTANTS_ONLY=TEXT keeps the mutants whose name contains TEXT
if [ -n "${MUTANTS_ONLY:-}" ]; then
  keep_names=() keep_files=() keep_olds=() keep_news=()
  for i in "${!names[@]}"; do
    case "${names[$i]}" in *"$MUTANTS_ONLY"*)
      keep_names+=("${names[$i]}"); keep_files+=("${files[$i]}"); keep_olds+=("${olds[$i]}"); keep_news+=("${news[$i]}") ;;
    esac
  done
  names=("${keep_names[@]}") files=("${keep_files[@]}") olds=("${keep_olds[@]}") news=("${keep_news[@]}")
fi

work="$(mktemp -d "${TMPDIR:-/tmp}/thinktop-mutants.XXXXXX")"
copy="$work/repo"
# SwiftPM leaves a lock file per build folder in the temporary directory, named after its path
cleanup() { rm -rf "$work"; rm -f "${TMPDIR:-/tmp}/$(printf '%s' "$copy/.build" | tr / _)"*.lock; }
trap cleanup EXIT
trap 'exit 130' INT TERM
mkdir -p "$copy" "$work/logs" "$work/orig"

# how many times `needle` occurs in `hay`, counting up to 2
occurrences() {
  local hay="$1" needle="$2" rest
  case "$hay" in *"$needle"*) ;; *) echo 0; return ;; esac
  rest="${hay#*"$needle"}"
  case "$rest" in *"$needle"*) echo 2 ;; *) echo 1 ;; esac
}

# the file's exact contents (trailing newlines kept)
contents() { local c; c="$(cat "$1"; printf x)"; printf '%s' "${c%x}"; }

# checks that mutant $1's snippet occurs exactly once in the file under `base`
check_snippet() {
  local i="$1" base="$2" path n
  path="$base/Sources/Core/${files[$i]}"
  [ -f "$path" ] || fail "mutant $((i + 1)) (${names[$i]}): Sources/Core/${files[$i]} does not exist"
  n="$(occurrences "$(contents "$path")" "${olds[$i]}")"
  [ "$n" = 1 ] || fail "mutant $((i + 1)) (${names[$i]}): the snippet occurs $n times in Sources/Core/${files[$i]} (must be once):
${olds[$i]}"
}

apply() {
  local i="$1" path c
  path="$copy/Sources/Core/${files[$i]}"
  check_snippet "$i" "$copy"
  cp "$path" "$work/orig/file"
  c="$(contents "$path")"
  printf '%s' "${c/"${olds[$i]}"/"${news[$i]}"}" > "$path"
  ! cmp -s "$path" "$work/orig/file" || fail "mutant $((i + 1)) (${names[$i]}): the file did not change"
  [ "$(occurrences "$(contents "$path")" "${news[$i]}")" != 0 ] || fail "mutant $((i + 1)) (${names[$i]}): the replacement is not in the file"
}

restore() { cp "$work/orig/file" "$copy/Sources/Core/${files[$1]}"; }

build() { (cd "$copy" && swift build --build-tests "${swift_flags[@]}") > "$work/logs/build" 2>&1; }
core_tests() { (cd "$copy" && timeout 900 swift test --skip-build --filter "$filter" "${swift_flags[@]}") > "$work/logs/test" 2>&1; }

started=$SECONDS
step "copying the repository ($from) to a scratch directory"
if [ "$from" = HEAD ]; then
  git -C "$root" archive HEAD | tar -x -C "$copy"
else
  (cd "$root" && git ls-files -z -c -o --exclude-standard | tar --null -T - --ignore-failed-read -cf - 2>/dev/null) | tar -x -C "$copy"
fi
# pinned dependency versions (the file is ignored by git), so the copy resolves as the checkout does
[ -f "$root/Package.resolved" ] && cp "$root/Package.resolved" "$copy/"
for i in "${!names[@]}"; do check_snippet "$i" "$copy"; done

step "building the copy"
build || { tail -40 "$work/logs/build" >&2; fail "the unmutated copy does not build"; }
step "tests ($filter) without any mutant"
core_tests || { grep -E '✘|error' "$work/logs/test" | head -40 >&2; fail "the tests ($filter) fail without any mutant: fix them first"; }

results=() issues=() times=() killers=()
bad=0
for i in "${!names[@]}"; do
  step "mutant $((i + 1))/${#names[@]}: ${names[$i]}"
  t0=$SECONDS
  apply "$i"
  if ! build; then
    results+=("NO BUILD"); issues+=("-"); killers+=(""); bad=1
    tail -20 "$work/logs/build" >&2
  elif core_tests; then
    results+=("SURVIVED"); issues+=("0"); killers+=(""); bad=1
  else
    rc=$?
    n="$(grep -oE 'Test run with [0-9]+ tests?( in [0-9]+ suites?)? failed after [0-9.]+ seconds with [0-9]+ issues?' "$work/logs/test" \
         | grep -oE '[0-9]+ issues?$' | grep -oE '[0-9]+' || true)"
    if [ "$rc" = 124 ]; then results+=("KILLED (timeout)"); else results+=("KILLED"); fi
    issues+=("${n:-?}")
    # the failing tests' names, from Swift Testing's "✘ Test "…" … failed after" lines
    killers+=("$(sed -nE 's/^✘ Test "(.*)"( with [0-9]+ test cases?)? failed after .*/\1/p' "$work/logs/test" | sort -u \
                 | sed 's/^/      /')")
  fi
  times+=("$((SECONDS - t0))s")
  restore "$i"
done

printf '\nfailing tests per mutant:\n'
for i in "${!names[@]}"; do
  printf '%3s %s: %s\n' "$((i + 1))" "${names[$i]}" "${results[$i]}"
  if [ -n "${killers[$i]}" ]; then printf '%s\n' "${killers[$i]}"; fi
done
printf '\n%-3s %-42s %-30s %-16s %6s %5s\n' "#" "mutant" "file (Sources/Core)" "result" "issues" "time"
for i in "${!names[@]}"; do
  printf '%-3s %-42s %-30s %-16s %6s %5s\n' "$((i + 1))" "${names[$i]}" "${files[$i]}" "${results[$i]}" "${issues[$i]}" "${times[$i]}"
done
total=$((SECONDS - started))
printf '\n%d mutants in %dm%02ds: ' "${#names[@]}" $((total / 60)) $((total % 60))
if [ "$bad" = 0 ]; then
  echo "all killed"
else
  echo "NOT all killed"
  exit 1
fi
