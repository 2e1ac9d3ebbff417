"""Family accounts: sign-up, log-in, log-out."""
