"""Local accounts: sign-up, credentials, profiles."""
