from django.urls import path

from intake import shared_key_views, views

app_name = "intake"

urlpatterns = [
    path("i/<slug:token>/", views.start, name="start"),
    path("i/<slug:token>/<slug:kind>/", views.start, name="start_kind"),
    path("s/<slug:public_id>/", views.verify, name="verify"),
    path("s/<slug:public_id>/new-code/", views.resend, name="resend"),
    path("s/<slug:public_id>/receipt/", views.receipt, name="receipt"),
    path("s/<slug:public_id>/shared-key/", shared_key_views.confirm, name="shared_key_confirm"),
    path("i/<slug:token>/authorize/<int:credential_id>/", views.authorize, name="authorize"),
    path("i/<slug:token>/check-again/<int:credential_id>/", views.check_again, name="check_again"),
    path("oauth/canvas/callback", views.oauth_callback, name="oauth_callback"),
]
