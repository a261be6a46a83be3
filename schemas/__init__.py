"""Typed models: the config (pydantic), chat examples (pydantic), raw tables (pandera)."""
