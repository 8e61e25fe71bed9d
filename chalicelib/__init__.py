"""recon: serverless data reconciliation (CDC Cassandra -> PostgreSQL, reconciliation streams)."""
