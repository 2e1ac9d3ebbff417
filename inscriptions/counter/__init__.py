"""The counter area (``/guichet``): agents serve families at the desk, on the phone or by post.

``views`` holds the blueprint; ``access`` who may use it and the reason asked before a household's
file is shown; ``search`` the household search; ``forms`` the agent's forms; ``entry`` the one-page
form an agent keys a paper form into. See ``docs/counter.md``.
"""
