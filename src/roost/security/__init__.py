"""Passwords, tokens and signed values."""
