"""Deployments of the connectors; ``deploy.andsend_fleet`` is the Dagster code location of a fleet."""
