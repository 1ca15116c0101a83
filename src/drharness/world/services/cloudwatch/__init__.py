"""CloudWatch in the offline world: alarms evaluated on the metric data the world holds."""
