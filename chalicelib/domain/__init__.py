"""Product vocabulary shared by every layer (API, CDC engine, workers, streams): enums, time and
paging value types, the support contact. Written once here; this package imports nothing from the
API layer, AWS or the database."""
