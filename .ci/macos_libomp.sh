#!/usr/bin/env bash
# cibuildwheel before-all on macOS: an llvm-openmp built for an old macOS (conda-forge's
# 11.1.0, what scikit-learn vendored), unpacked into /tmp/upsamplex-openmp. The build links
# it (CFLAGS/LDFLAGS in pyproject's [tool.cibuildwheel.macos]); delocate then copies
# libomp.dylib into the wheel. One CI job per architecture (macos-13 x86_64, macos-14 arm64),
# so the library's architecture is the runner's unless CIBW_ARCHS_MACOS says otherwise.
set -euo pipefail
arch="${CIBW_ARCHS_MACOS:-$(uname -m)}"
case "$arch" in
  arm64) url="https://anaconda.org/conda-forge/llvm-openmp/11.1.0/download/osx-arm64/llvm-openmp-11.1.0-hf3c4609_1.tar.bz2" ;;
  x86_64) url="https://anaconda.org/conda-forge/llvm-openmp/11.1.0/download/osx-64/llvm-openmp-11.1.0-hda6cdc1_1.tar.bz2" ;;
  *) echo "macos_libomp.sh: one architecture per job, got '$arch'" >&2; exit 1 ;;
esac
prefix=/tmp/upsamplex-openmp
rm -rf "$prefix" && mkdir -p "$prefix"
curl -fsSL "$url" | tar xjf - -C "$prefix"
ls "$prefix/lib"/libomp*.dylib "$prefix/include/omp.h"
