from django.apps import AppConfig


class IdpConfig(AppConfig):
    name = "idp"
    verbose_name = "Gatehouse"

    def ready(self) -> None:
        from django.db.models.signals import post_save

        from idp import checks  # noqa: F401  (registers the deploy checks)
        from idp import metrics
        from idp.models import AuditEvent

        # Sign-in outcomes are counted from the audit trail the pipeline already writes.
        post_save.connect(metrics.count_sign_in, sender=AuditEvent, dispatch_uid="gatehouse-metrics-sign-ins")
