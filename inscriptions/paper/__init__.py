"""The paper twin of every form: printable layouts, print tokens, rendering, letters.

- :mod:`inscriptions.paper.layout`: a form version's page geometry in millimetres, frozen in the
  database the first time it is computed (the scan reader uses it to find every box);
- :mod:`inscriptions.paper.tokens`: the token of each printed document, its QR payload and its
  human-readable code;
- :mod:`inscriptions.paper.render`: PDF drawing (blank or prefilled forms, mass printing);
- :mod:`inscriptions.paper.letters`: confirmation, waiting-list and rejection letters.

``docs/paper.md`` documents the formats and the commands.
"""
