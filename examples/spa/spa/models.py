from django.db import models


class EndedSession(models.Model):
    """A Gatehouse session that ended (back-channel logout): access tokens issued before it stop working here."""

    sid = models.CharField(max_length=128, blank=True)
    sub = models.CharField(max_length=255, db_index=True)
    ended_at = models.DateTimeField(auto_now_add=True)
