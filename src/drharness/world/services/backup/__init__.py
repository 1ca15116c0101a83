"""AWS Backup in the offline world: `models` holds the backend (jobs, recovery points, plan runs), `responses` its wire."""
