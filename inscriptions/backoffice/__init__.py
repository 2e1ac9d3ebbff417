"""The back office (``/gestion``): review queues, decisions and the staff's sections per service.

:mod:`.views` holds the pages, :mod:`.workflow` who may move a registration where (and the timed
moves of ``inscriptions workflow run``), :mod:`.notify` the message sent to the family after a
decision, :mod:`.access` who may enter.
"""
