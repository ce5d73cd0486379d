"""Timelines: which status ids make up a page."""
