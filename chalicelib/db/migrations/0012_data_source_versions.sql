-- A data source's version, as a stream's and a rule set's: each PUT adds one, and a PUT carrying the
-- version it read is refused (409) when the data source changed since (optimistic concurrency).
-- A data source keeps no history: the version only counts its edits.
ALTER TABLE recon.data_sources ADD COLUMN version integer NOT NULL DEFAULT 1 CHECK (version >= 1);
