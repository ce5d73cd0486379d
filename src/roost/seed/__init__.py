"""`roost seed`: a synthetic network that looks like a real one, bulk-loaded."""
