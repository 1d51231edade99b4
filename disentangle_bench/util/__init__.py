"""Small utilities shared by every layer: errors, atomic files, progress, PNG images, devices."""
