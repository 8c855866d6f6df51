"""Locked conda packages into an image: fetched by hash, unpacked, linked into one prefix.

    fetch.py    each locked file into the cache, size, sha256 and md5 checked
    extract.py  a `.conda` or `.tar.bz2` read member by member into a staging folder
    prefix.py   prefix placeholders replaced the way conda does (text and binary modes)
    meta.py     the `conda-meta/<name>-<version>-<build>.json` records
    install.py  all of it into a layer's tree, and the image's conda facts (prefix, python)
"""
