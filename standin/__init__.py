"""Stand-ins for the services Frontline talks to, and the running stack built on them.

A development package: the test suite and the benchmarks import it; the product never does (an import
contract holds it) and it is not installed with the product.

* :mod:`standin.botapi` — a Telegram Bot API server on loopback that the real aiogram client talks to;
* :mod:`standin.stack` — the whole application served on loopback with Telegram pointed at that stand-in.
"""
