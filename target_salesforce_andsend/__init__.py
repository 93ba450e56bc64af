"""Singer target writing Andsend prospects, activities and CRM badges to Salesforce."""
