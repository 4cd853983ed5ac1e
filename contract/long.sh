#!/usr/bin/env bash
# The longer contract run: contract/run.sh as each caller (the instance admin, a project viewer,
# an outsider) with several seeds and more examples per operation. Each run starts its own
# `keyhold dev` on a fresh database; the first failure stops the loop and names the run.
#
#   contract/long.sh                        # 3 callers x 2 seeds x 300 examples (about 45 min)
#   CONTRACT_SEEDS="1 2 3" CONTRACT_EXAMPLES=100 contract/long.sh
set -euo pipefail
cd "$(dirname "$0")/.."

examples=${CONTRACT_EXAMPLES:-300}
seeds=${CONTRACT_SEEDS:-"20261123 7"}
callers=${CONTRACT_CALLERS:-"admin viewer outsider"}
built=0
for caller in $callers; do
  for seed in $seeds; do
    echo "contract/long.sh: $caller, seed $seed, $examples examples per operation" >&2
    # The first run builds keyhold; the others reuse it.
    if ! SKIP_BUILD=$built CONTRACT_CALLER=$caller CONTRACT_SEED=$seed CONTRACT_EXAMPLES=$examples \
      CONTRACT_TIMEOUT=${CONTRACT_TIMEOUT:-3600} bash contract/run.sh; then
      echo "contract/long.sh: FAILED as $caller with seed $seed" >&2
      exit 1
    fi
    built=1
  done
done
echo "contract/long.sh: every run passed" >&2
