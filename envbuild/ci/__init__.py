"""envbuild in CI: what a lock change rebuilds (plan), building only that, and workflows
that run both."""
