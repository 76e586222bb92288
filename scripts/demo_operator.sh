#!/bin/sh
# A short demonstration of the operator: soft top-2 of one score vector as tau shrinks,
# then the exact gradient of <g, p>. Uses the command built in ./build.
set -eu
hs=${HS_CLI:-build/src/cli/hypersimplex}
z="3.0 1.0 0.2 -1.0 2.5"
echo "z = $z, k = 2"
for tau in 10 2 1 0.1; do
  printf 'tau = %-4s p = ' "$tau"
  echo "$z" | "$hs" project --k 2 --tau "$tau"
done
echo "VJP of g = (1, 0, 0, 0, -1) at tau = 10:"
g=$(mktemp)
echo "1 0 0 0 -1" > "$g"
echo "$z" | "$hs" project --k 2 --tau 10 --vjp "$g" --vjp-output /dev/stdout --output /dev/null
rm -f "$g"
