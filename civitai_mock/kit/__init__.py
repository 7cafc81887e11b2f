"""The testing kit: the handle, the pytest plugin, play(), response strategies (top layer)."""
