"""Full-text search of statuses: an index the search_index consumer keeps, and the
query that reads it with the visibility rules applied (docs/search.md)."""
