"""Local, SQLite-backed stand-ins for the Andsend API and the Salesforce REST API."""
