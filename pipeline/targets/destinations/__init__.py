"""One module per destination (see pipeline/targets/base.py for what each declares)."""
