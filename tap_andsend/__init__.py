"""Singer tap for the Andsend API."""
