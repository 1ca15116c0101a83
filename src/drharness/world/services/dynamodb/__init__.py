"""DynamoDB in the offline world: point-in-time recovery and global tables (2019.11.21), which moto lacks."""
