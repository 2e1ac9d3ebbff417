"""Lists staff actually use: exports, counts (the kitchen's meals), attendance lists, a dashboard.

``views`` holds the blueprint (``/gestion/<service_code>/rapports``); ``exports`` the CSV and XLSX
exports of a service's registrations; ``counts`` the counts grouped by answers (declared in the
service definition's ``reports`` section, or picked by the manager); ``attendance`` the printable
attendance list of a session (PDF); ``dashboard`` the figures of the dashboard and ``charts`` their
server-side SVG charts (no JavaScript, nothing inline that a strict CSP would block).

The engine knows nothing about canteens or pools: what a count groups by comes from the
definition (``reports.counts``) or from the manager's choice among the form's choice fields.
"""
