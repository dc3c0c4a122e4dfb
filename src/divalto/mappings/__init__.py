"""Bundled mapping profiles (TOML), read by :func:`divalto.mapping.default_mapping`."""
