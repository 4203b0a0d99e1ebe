import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "idp.settings")
application = get_wsgi_application()

# Every serving process retries back-channel logout deliveries that are due, from the shared database
# (idp/backchannel.py). Tests never import this module, so they run no worker unless they start one.
# gunicorn imports this module in each worker after forking; with `preload_app` it would run in the
# master only, which still works but forks with a thread running: keep preload off.
from idp import backchannel  # noqa: E402

backchannel.worker_start()
