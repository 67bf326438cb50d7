"""Code that runs inside the sandbox: standard library and relative imports only.

These modules are copied read-only into every sandbox (``tools/sandbox/bwrap.py``),
where neither the project nor its dependencies exist; the host imports them too.
"""
