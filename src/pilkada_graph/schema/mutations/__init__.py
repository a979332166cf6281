"""Mutations, one module each: its input, its success and rejection types, and one resolver."""
