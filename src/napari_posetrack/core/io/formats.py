"""Built-in formats (filled below)."""
