"""Event sources and event source mappings (queues so far; streams, schedules, buckets, HTTP to come)."""
