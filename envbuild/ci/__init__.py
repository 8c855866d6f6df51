"""CI: what a change to the lock means for its images (plan), and building only those."""
