import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("survivors")
# Every CELERY_* Django setting configures Celery (config/settings/celery.py).
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.task_queues = None  # declared in routing.configure
app.autodiscover_tasks()

from worker import connections, retry, routing, schedule  # noqa: E402, F401 - needs the app configured first

connections.configure()
routing.configure(app)
schedule.configure(app)
