"""Protecting Roost from overload and from its own dependencies: rate limits today;
circuit breakers, retries and timeouts join them here."""
