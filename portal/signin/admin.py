"""No second-factor device is edited in the admin: django-otp's device pages would show TOTP keys and
recovery codes, and would let one staff member give another a device. People enrol themselves; an
administrator can only reset (audited, on the user's page)."""

from django.contrib import admin
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

for model in (TOTPDevice, StaticDevice):
    if admin.site.is_registered(model):
        admin.site.unregister(model)
