from django.apps import AppConfig


class IdpConfig(AppConfig):
    name = "idp"
    verbose_name = "Gatehouse"

    def ready(self) -> None:
        from idp import checks  # noqa: F401  (registers the deploy checks)
