from django.urls import path

from federation import views

app_name = "federation"

urlpatterns = [
    path("dev/", views.dev_login, name="dev-login"),
]
