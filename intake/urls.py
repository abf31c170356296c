from django.urls import path

from intake import views

app_name = "intake"

urlpatterns = [
    path("i/<slug:token>/", views.start, name="start"),
    path("i/<slug:token>/<slug:kind>/", views.start, name="start_kind"),
    path("s/<slug:public_id>/", views.verify, name="verify"),
    path("s/<slug:public_id>/new-code/", views.resend, name="resend"),
    path("s/<slug:public_id>/receipt/", views.receipt, name="receipt"),
    path("i/<slug:token>/authorize/<int:credential_id>/", views.authorize, name="authorize"),
    path("i/<slug:token>/check-again/<int:credential_id>/", views.check_again, name="check_again"),
    path("oauth/canvas/callback", views.oauth_callback, name="oauth_callback"),
]
