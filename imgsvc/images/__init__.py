"""The image flow: the image record, uploads, the image job, the Redis indexes
derived from the record, tombstones and reconcile (docs/architecture.md)."""
