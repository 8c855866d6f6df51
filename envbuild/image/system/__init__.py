"""Images from the OS up: a target's locked Debian packages unpacked into its base layer
(issue 11). `base.system_base` is the entry point; the other modules are its steps."""
