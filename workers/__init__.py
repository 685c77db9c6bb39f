"""The service mode: Celery tasks that run the process code of `ledger.processes`
(through `ledger.service.run_reaction`), and the dispatcher that starts them."""
