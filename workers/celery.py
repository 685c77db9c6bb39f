"""The Celery app of the `celery` command line (`celery -A workers.celery ...`: the
compose file's Flower and its worker healthcheck's `inspect ping`), made from the
`LEDGER_*` settings of the environment as this module is imported.

Where Celery looks for a project's app (`celery -A workers` finds it too). No module of
the project imports this one: the `ledger` commands validate the settings first and
make their app with `workers.app.create_celery_app`.
"""

from __future__ import annotations

from workers.app import create_celery_app
from workers.settings import ServiceSettings

app = create_celery_app(ServiceSettings())
