"""The only code in the target that speaks HTTP to Salesforce."""
