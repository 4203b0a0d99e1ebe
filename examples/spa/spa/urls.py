from django.urls import path

from spa import api, views

urlpatterns = [
    path("", views.index, name="index"),
    path("callback", views.index, name="callback"),  # the page itself reads the code from its URL
    path("backchannel-logout", views.backchannel_logout, name="backchannel-logout"),
    path("api/me", api.me, name="api-me"),
]
