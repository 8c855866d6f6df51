"""`envbuild sync`: a virtual environment on this host made exactly from one locked target.

    core.py         the command as one call: options in, a SyncResult out
    interpreter.py  the environment's interpreter: found, probed, a venv created with uv
    install.py      the locked wheels from envbuild's cache installed by `uv pip sync`
"""
