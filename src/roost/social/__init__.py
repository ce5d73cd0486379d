"""The social graph: follows and relationships."""
