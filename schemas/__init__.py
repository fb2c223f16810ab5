"""JSON Schemas of the settings kinds meshrender reads."""
