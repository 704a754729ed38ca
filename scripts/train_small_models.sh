#!/usr/bin/env bash
# The cifar-small training runs of issue 12, one after another, each in runs/cifar-small/NAME-sSEED.
# A finished run is skipped, an interrupted one continued with --resume, so the script can simply be
# started again (in the background) in every session until all are done:
#
#   nohup bash scripts/train_small_models.sh > runs/cifar-small.log 2>&1 &
#   bash scripts/train_small_models.sh --list        # what is done, running or waiting
#   bash scripts/train_small_models.sh mobilenet_v1_cifar_0125 mobilenet_v1_cifar_025   # only these models
#
# TINYCNN_NUM_THREADS=1 in the environment trains on one thread (a machine shared with other work).
#
# Seed-0 runs (without extra options) are published into tinycnn/pretrained/ when they finish
# (`tinycnn pretrained add`), the others recorded (accuracy and log, `--log-only`); commit
# tinycnn/pretrained/ after each one. Nothing else from runs/ is committed.
set -uo pipefail
cd "$(dirname "$0")/.."

# model seed publish? [extra train options] -- main models first, then the comparisons, then the
# second seeds; a run with extra options gets their names in its folder (se_resnet20-s0-shuffle-labels)
RUNS="
resnet20 0 yes
preact_resnet20 0 yes
se_resnet20 0 yes
wrn10_2 0 yes
resnext20_8x4d 0 yes
resnet20_stochastic_depth 0 yes
plain20 0 yes
densenet_bc_28_12 0 yes
mobilenet_v1_cifar_035 0 yes
mobilenet_v2_cifar_035 0 yes
efficientnet_cifar_tiny 0 yes
resnet9_wide 0 yes
resnext20_1x16d 0 yes
resnet8 0 yes
resnet14 0 yes
mobilenet_v1_cifar_0125 0 yes
mobilenet_v1_cifar_0125_standard 0 yes
mobilenet_v1_cifar_025 0 yes
mobilenet_v1_cifar_050 0 yes
efficientnet_cifar_tiny_compound 0 yes
efficientnet_cifar_tiny_width 0 yes
efficientnet_cifar_tiny_depth 0 yes
efficientnet_cifar_tiny_resolution 0 yes
se_resnet20 0 no --shuffle-labels
resnet20 1 no
preact_resnet20 1 no
se_resnet20 1 no
efficientnet_cifar_tiny_compound 1 no
efficientnet_cifar_tiny_width 1 no
efficientnet_cifar_tiny_resolution 1 no
wrn10_2 1 no
densenet_bc_28_12 1 no
resnet14 1 no
resnext20_8x4d 1 no
resnext20_1x16d 1 no
mobilenet_v2_cifar_035 1 no
efficientnet_cifar_tiny_depth 1 no
mobilenet_v1_cifar_050 1 no
mobilenet_v1_cifar_025 1 no
mobilenet_v1_cifar_0125_standard 1 no
"

state() {  # done | partial | new: recorded in tinycnn/pretrained/runs.json, or from the run folder
    local out=$1
    python - "$out" <<'PY'
import json, sys
from pathlib import Path
out = Path(sys.argv[1])
recorded = json.loads(Path("tinycnn/pretrained/runs.json").read_text())
if out.name in recorded:  # finished and published in an earlier session (runs/ is not kept)
    print("done"); sys.exit()
if not (out / "checkpoint.npz").exists():
    print("new"); sys.exit()
config = json.loads((out / "config.json").read_text())
history = json.loads((out / "metrics.json").read_text()) if (out / "metrics.json").exists() else []
print("done" if len(history) >= config["epochs"] else "partial")
PY
}

# The loop is a function called on the last line: bash reads a script as it runs, and a script
# edited (or checked out) during a run would otherwise be read from the wrong place.
main() {
    echo "$RUNS" | while read -r model seed publish extra; do
        [ -n "$model" ] || continue
        out="runs/cifar-small/$model-s$seed${extra:+$(echo " $extra" | tr ' ' '-' | sed 's/--*/-/g')}"
        status=$(state "$out")
        if [ "${1:-}" = "--list" ]; then echo "$status  $out"; continue; fi
        if [ $# -gt 0 ] && ! printf '%s\n' "$@" | grep -qx "$model"; then continue; fi
        [ "$status" = done ] && continue
        resume=""; [ "$status" = partial ] && resume="--resume"
        echo "== $(date -u +%FT%TZ) $model seed $seed ($status)"
        # shellcheck disable=SC2086
        tinycnn train --recipe cifar-small --model "$model" --seed "$seed" $extra --out "$out" $resume --no-progress || exit 1
        if [ "$publish" = yes ]; then tinycnn pretrained add "$out" || exit 1; else tinycnn pretrained add "$out" --log-only || exit 1; fi
    done
}

main "$@"; exit $?
