"""The emulated AWS services, one folder each."""
