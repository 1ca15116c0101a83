"""S3 in the offline world: replication that honours the stored rules, and a sorted listing index."""
