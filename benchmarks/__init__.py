"""Benchmarks of beam_prep against the tokenizer floor and the usual datasets.map baseline (issue 7)."""
