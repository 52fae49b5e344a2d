"""The benchmark suite of ramalama-sdk: ``make bench`` (see bench/README.md)."""
