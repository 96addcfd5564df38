#!/usr/bin/env bash
# The main job end to end on the bundled default data (a seeded synthetic market), offline.
# Usage: scripts/demo.sh PATH/TO/hbopt   (make demo sets HBOPT_HOME/HBOPT_MIRROR_DIR to demo folders)
set -euo pipefail
hbopt=${1:-hbopt}
pair=(--connector binance_perpetual --pair BTC-USDT)
step() { printf '\n\033[1m$ hbopt %s\033[0m\n' "$*"; "$hbopt" "$@"; }

step data synth "${pair[@]}" --interval 1m --days 120 --seed 7 --replace
step data list
step mirror refresh
step mirror status
step controllers list
step backtest --controller bollinger "${pair[@]}" --set bb_length=100 --set stop_loss=0.02 --days 30 --stock
step backtest --controller bollinger "${pair[@]}" --set bb_length=100 --set stop_loss=0.02 --days 30   # turbo, the default
step backtest --controller ma_cross "${pair[@]}" --days 90 --turbo
step backtest --controller ma_cross "${pair[@]}" --days 90 --turbo --feature-timing open   # Hummingbot's look-ahead
step backtest --controller pmm "${pair[@]}" --set buy_spreads=0.004,0.01 --set sell_spreads=0.004,0.01 --days 30 --turbo
step backtest --controller grid "${pair[@]}" --set grid_depth=0.03 --set take_profit=0.006 --days 30 --turbo
step backtest --controller market_maker "${pair[@]}" --set buy_spreads=0.002,0.005 --set sell_spreads=0.002,0.005 \
    --days 30 --turbo
step discover --controller bollinger --connector binance_perpetual --pairs BTC-USDT --days 30 --iter 60 \
    --turbo --seed 1 --study demo --top 5
step study best demo --top 3
step validate demo
step walkforward --controller bollinger --connector binance_perpetual --pairs BTC-USDT --days 30 --folds 3 \
    --iter 20 --turbo --seed 1 --study demo_wf
step study export-config demo --best 1 --out "${HBOPT_HOME:-.}/deploy"   # a folder to copy into Hummingbot
