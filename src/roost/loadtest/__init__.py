"""`roost bench`: a bounded, realistic load against a running server, and its report."""
