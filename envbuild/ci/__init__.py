"""envbuild in CI: plans of what a lock change rebuilds, builds of only that, and workflows."""
