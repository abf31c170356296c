"""What every record admin of Keydrop's shares."""

from django.contrib import admin


class ReadOnlyAdmin(admin.ModelAdmin):
    """Viewable, never added, changed or deleted through a form: every change is an audited action."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
