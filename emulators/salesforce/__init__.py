"""Salesforce REST API emulator (see ../shared/reference/salesforce-api.md and docs/DESIGN.md)."""
