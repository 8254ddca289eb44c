"""The catalog table (the Item contract) and its quarantine."""
