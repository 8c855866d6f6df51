"""Bit-for-bit OCI images from a locked target, built without a daemon."""
