"""HTTP layer: parse, authorise, call one operation, serialise."""
