from django.db import models


class GatehouseSession(models.Model):
    """Which of our sessions belongs to which Gatehouse session (`sid`), so a logout token can end it."""

    session_key = models.CharField(max_length=40, unique=True)
    sid = models.CharField(max_length=128, db_index=True)
    sub = models.CharField(max_length=255, db_index=True)
    created = models.DateTimeField(auto_now_add=True)
