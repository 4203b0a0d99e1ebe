"""The development upstream's page: the stand-in for Google's or Kakao's own sign-in screen."""

from __future__ import annotations

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render


def dev_login(request: HttpRequest) -> HttpResponse:
    if not (settings.DEBUG and settings.GATEHOUSE_DEV_LOGIN):
        raise Http404
    return render(request, "federation/dev_login.html", {"state": request.GET.get("state", "")})
