"""Notifications: who is told what, and reading them back."""
