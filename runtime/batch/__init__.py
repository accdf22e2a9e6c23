"""``edge-face batch``: many videos and photo folders, each file analysed as the CLI would,
on a local process pool or a Ray cluster; resumable, with per-file JSON lines and two tables.

Needs the ``scale`` extras (Ray, pyarrow, tqdm): ``pip install 'edge-face[scale]'``, or
``make setup-scale`` in the repository. The lean runtime never imports this package.
"""
