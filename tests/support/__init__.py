"""Test infrastructure: real wheels, a real local package index, and the fixtures over them."""
