"""AWS Batch in the offline world: jobs that run, depend on one another and die with their zone."""
