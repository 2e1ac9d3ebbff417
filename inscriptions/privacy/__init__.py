"""Personal data (RGPD): retention purge, the family's rights, photo consent, the DPO's audit log.

- :mod:`.settings`: retention periods (per service in the definition, town-wide in the config);
- :mod:`.anonymise`: anonymising registrations, deleting files, deleting a family's account;
- :mod:`.purge`: ``inscriptions privacy purge`` (retention, inactive accounts, audit log age);
- :mod:`.export`: all data about a household, as JSON and as a readable PDF;
- :mod:`.sensitive`: answers flagged ``sensitive`` kept from staff without the permission;
- :mod:`.consent`: photo consent per child;
- :mod:`.views`, :mod:`.cli`: the pages and the command.
"""
