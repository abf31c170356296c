from django.urls import path

from intake import views

app_name = "intake"

urlpatterns = [
    path("i/<str:token>/", views.start, name="start"),
    path("i/<str:token>/<str:kind>/", views.start, name="start_kind"),
    path("s/<str:public_id>/", views.verify, name="verify"),
    path("s/<str:public_id>/new-code/", views.resend, name="resend"),
    path("s/<str:public_id>/receipt/", views.receipt, name="receipt"),
]
