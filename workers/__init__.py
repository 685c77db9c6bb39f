"""The service mode: Celery tasks that run the process code of `ledger.processes`
(through `ledger.processes.service_reactions.run_reactions`), and the dispatcher that starts them."""
