"""The dashboard's page, script and style sheet (package data; no build step, nothing from a CDN)."""
