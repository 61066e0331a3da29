"""Fuzz targets: each takes arbitrary bytes and checks only documented outcomes (run.py, scripts/fuzz.sh)."""
