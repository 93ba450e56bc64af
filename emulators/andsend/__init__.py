"""Andsend API emulator, serving schemas/andsend-api.openapi.yaml."""
