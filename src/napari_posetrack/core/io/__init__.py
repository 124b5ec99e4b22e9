"""Import and export of pose data, through sleap-io where it has the format."""
