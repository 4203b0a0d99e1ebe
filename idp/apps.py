from django.apps import AppConfig


class IdpConfig(AppConfig):
    name = "idp"
    verbose_name = "Gatehouse"

    def ready(self) -> None:
        from django.contrib.auth.signals import user_logged_in
        from django.db.models.signals import post_save

        from idp import checks  # noqa: F401  (registers the deploy checks)
        from idp import metrics, sso
        from idp.models import AuditEvent

        # Sign-in outcomes are counted from the audit trail the pipeline already writes.
        post_save.connect(metrics.count_sign_in, sender=AuditEvent, dispatch_uid="gatehouse-metrics-sign-ins")
        # The session's sid is made as the person signs in, so it is written with the signed-in session
        # rather than by an extra session write on the first /o/authorize/.
        user_logged_in.connect(sso.sid_on_sign_in, dispatch_uid="gatehouse-sid-on-sign-in")
