"""Allocation: applications wait in their service's queue, and one allocator decides the places.

- :mod:`.queue`: recording an application (one INSERT with its arrival number);
- :mod:`.rules`: how a batch of applications is decided, in memory (arrival order today);
- :mod:`.allocator`: the pass that locks, decides, writes and commits, one at a time per service;
- :mod:`.worker`: the long-running process that runs passes for every service (``worker`` mode).

Every channel records applications through
:func:`inscriptions.registrations.create.create_registrations`, which validates them first.
"""
