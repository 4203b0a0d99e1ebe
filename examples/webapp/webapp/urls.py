from django.urls import path

from webapp import views

urlpatterns = [
    path("", views.home, name="home"),
    path("login", views.login, name="login"),
    path("callback", views.callback, name="callback"),
    path("logout", views.logout, name="logout"),
    path("signed-out", views.signed_out, name="signed-out"),
    path("backchannel-logout", views.backchannel_logout, name="backchannel-logout"),
]
