"""README.md, run block by block (see conftest.py)."""
