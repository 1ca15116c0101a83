"""FSx in the offline world: backups that take time, restores from them, daily automatic backups."""
