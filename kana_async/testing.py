"""pytest plugin for users' own tests (the ``kana_sim`` fixture is added with the simulator)."""
