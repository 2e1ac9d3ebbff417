"""The JSON API under ``/api/v1``: token authentication, roles from :mod:`inscriptions.permissions`."""
