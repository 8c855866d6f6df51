"""Hardware knowledge as data (hardware.toml) and the lock-time GPU/CUDA/driver checks.

`facts` loads the data file into typed rows, `compat` checks a resolution against a
hardware target, `validate` checks a manifest's CUDA version and GPUs before resolving.
"""
