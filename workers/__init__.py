"""Celery workers of the service mode (a later issue). They will call the same
process code as `ledger run`: `ledger.processes.ProcessManager.react`."""
