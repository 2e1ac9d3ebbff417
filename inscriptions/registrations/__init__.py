"""Registrations: the one creation path (:mod:`.create`) and status changes (:mod:`.status`)."""
