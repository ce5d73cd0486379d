"""HTML pages' templates and static assets (assets.py serves them under hashed names)."""
