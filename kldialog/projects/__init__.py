"""The city's digital roadmap: categories, projects, status history and updates."""
