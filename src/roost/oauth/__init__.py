"""OAuth 2 applications, authorization codes and access tokens."""
