"""Amazon Athena in the offline world: DDL over S3 objects, and queries run by DuckDB over the world's S3."""
