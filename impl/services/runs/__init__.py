"""What every run shares whatever its mode: the lease its worker holds (`leases`: taken at the
start, dropped with the run's end, renewed while the worker lives, reaped when it died) and the
checkpoints of a growing answer (`checkpoint`) and the log its events go to (`event_log`)."""
