"""The image tests' fixtures (a private index server, a project folder) serve here too."""

from tests.image.conftest import index_server, project

__all__ = ["index_server", "project"]
