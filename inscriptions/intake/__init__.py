"""Scan intake: agents upload scanned paper forms, check what was read, and register them."""
