"""Not code: this file only gives notebooks/conftest.py a unique module name for pytest."""
