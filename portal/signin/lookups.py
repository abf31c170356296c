"""Admin lists take the filters they declare and nothing else.

Django's admin turns any other query parameter into an ORM lookup: `?client_id__startswith=us-east-1%231a`
reads a masked value one character at a time, `?name__regex=(a+)+$` backtracks for as long as it
likes (in-process on SQLite), and an invalid pattern is a 500. Here a parameter that no declared
list filter, search box, ordering or page number consumed is answered like any other bad filter
(the admin's "?e=1" page), on every list of the site, third-party admins included.
"""

from django.contrib import messages
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.views.main import SEARCH_VAR
from django.db import DataError
from django.http import HttpResponseRedirect

SEARCH_MAX_LENGTH = 200  # SQLite refuses LIKE patterns of 50,000 bytes and more; no name is that long


def refuse_unusable(request, list_url: str) -> HttpResponseRedirect | None:
    """The answer to a query the database would choke on, before it sees it; None if it is fine.
    A NUL cannot be sent to PostgreSQL; a search longer than any name is a clear message."""
    if any("\x00" in key or any("\x00" in value for value in values) for key, values in request.GET.lists()):
        return HttpResponseRedirect(list_url + "?e=1")
    if len(request.GET.get(SEARCH_VAR, "")) > SEARCH_MAX_LENGTH:
        messages.error(request, f"A search can be at most {SEARCH_MAX_LENGTH} characters long.")
        return HttpResponseRedirect(list_url)
    return None


class DeclaredFiltersOnly:
    def lookup_allowed(self, lookup, value, request=None):
        # Every parameter is judged by get_filters below instead: one answer for all of them.
        return True

    def get_changelist(self, request, **kwargs):
        base = super().get_changelist(request, **kwargs)

        class DeclaredFiltersOnlyChangeList(base):
            def get_filters(self, request):
                filters = super().get_filters(request)
                leftover = set(filters[2])  # lookups no declared filter took
                if self.date_hierarchy:
                    leftover -= {f"{self.date_hierarchy}__gte", f"{self.date_hierarchy}__lt"}
                if leftover:
                    raise IncorrectLookupParameters(f"Not a filter of this list: {', '.join(sorted(leftover))}")
                return filters

        return DeclaredFiltersOnlyChangeList

    def changelist_view(self, request, extra_context=None):
        refused = refuse_unusable(request, request.path)
        if refused:
            return refused
        try:  # some values only fail once the SQL is built, such as at__year=-1
            return super().changelist_view(request, extra_context)
        except (ValueError, OverflowError, DataError):
            if not request.GET:
                raise
            return HttpResponseRedirect(request.path + "?e=1")
