"""Local fake servers of the outside services, for tests, benchmarks and the demo.

Each module (``integrations.fakes.<kind>``) holds one fake built on
:mod:`integrations.fakes.server` and a ``serve(port, host="127.0.0.1",
seed_demo=False)`` function that runs it in the foreground.
"""
