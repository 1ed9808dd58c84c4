"""Loaded by test subprocesses (workers, gunicorn) through PYTHONPATH.

It makes any TCP/UDP connect to an address outside loopback fail before a
packet is sent, so even wrong code under test cannot reach another host.
"""

import tests_netjail  # noqa: F401  (installs the jail on import)
