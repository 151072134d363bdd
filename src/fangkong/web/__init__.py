"""The web console and REST API: app factory, pages, templates, static assets."""
