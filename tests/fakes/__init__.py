"""A simple source and warehouse that implement Reef's interfaces in memory, for tests."""
