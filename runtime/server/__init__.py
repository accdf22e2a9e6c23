"""``edge-face serve``: the live view in a browser and an HTTP API, one more application on
the Python API (a peer of the CLI and the batch runner, built on :class:`runtime.api.Analyzer`).

Needs the ``serve`` extras (FastAPI, uvicorn, prometheus-client, Pillow): ``pip install
'edge-face[serve]'``, or ``make setup-serve`` in the repository. The lean runtime never
imports this package.
"""
