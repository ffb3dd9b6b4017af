"""Benchmarks: ``python -m bench [NAME ...]`` prints one table per benchmark."""
