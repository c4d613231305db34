"""Small shared infrastructure: errors, atomic file writes, paths, YAML locations, progress bars."""
