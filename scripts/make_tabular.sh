#!/bin/sh
# Rebuilds the four real tabular data sets (fertility, movielens, ticdata, letter_am_nz) as
# CSV files from Debian's packages of R data sets, on a fresh Debian 12 machine.
#
# usage: scripts/make_tabular.sh [OUTDIR]      (default: data/tabular)
# Installs the R packages with apt-get when they are missing (needs root).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-data/tabular}
pkgs="r-base-core r-cran-aer r-cran-dslabs r-cran-kernlab r-cran-mlbench"
missing=""
for p in $pkgs; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
  echo "installing:$missing"
  if [ "$(id -u)" -ne 0 ]; then
    echo "error: run as root or install:$missing" >&2
    exit 1
  fi
  apt-get install -y --no-install-recommends $missing
fi
mkdir -p "$out"
Rscript "$here/export_tabular.R" "$out"
# Record checksums so two machines can compare their exports.
(cd "$out" && sha256sum fertility.csv movielens.csv ticdata.csv letter_am_nz.csv > SHA256SUMS)
cat "$out/SHA256SUMS"
