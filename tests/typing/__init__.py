"""User code type-checked by ``scripts/lint`` (``mypy --strict tests/typing/``): see user_code.py."""
