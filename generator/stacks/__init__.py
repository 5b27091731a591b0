"""Stack assembly: the core stack of an environment and one stack per connector."""
