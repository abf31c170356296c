"""The intake form writes its radio options itself (intake/templatetags/intake_forms.py) instead of
through Django's option templates: each option must still carry what Django's RadioSelect gives it."""

import re

import pytest

from intake.forms import SubmissionForm
from intake.templatetags.intake_forms import intake_field
from keys import kinds
from tests import factories

pytestmark = pytest.mark.django_db

OPTION = re.compile(r'<label for="([^"]+)"><input type="radio" ([^>]*)> ([^<]*)</label>')


def written(field) -> list[dict]:
    options = []
    for label_for, attributes, label in OPTION.findall(str(intake_field(field))):
        attrs = dict(re.findall(r'([\w-]+)(?:="([^"]*)")?', attributes))
        options.append({"for": label_for, "label": label, **attrs})
    return options


def djangos(field) -> list[dict]:
    options = []
    for option in (subwidget.data for subwidget in field.subwidgets):
        attrs = {name: ("" if value is True else str(value)) for name, value in option["attrs"].items() if value}
        label = str(option["label"]).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        options.append(
            {"for": attrs["id"], "label": label, "name": option["name"], "value": str(option["value"]), **attrs}
        )
    return options


def forms_to_compare(institution):
    for kind in kinds.KINDS.values():
        yield SubmissionForm(institution=institution, kind=kind)
        yield SubmissionForm(institution=institution, kind=kind, key_type="partner")
        posted = {"expiry": "bogus", "contact": "999999", "key_type": "partner"}
        form = SubmissionForm(posted, institution=institution, kind=kind)
        form.is_valid()  # errors: aria-invalid on every option
        yield form
        chosen = {"expiry": kind.default_lifetime, "contact": str(institution.contacts.first().pk)}
        form = SubmissionForm(chosen, institution=institution, kind=kind)
        form.is_valid()
        yield form


def test_each_radio_option_carries_what_djangos_radio_select_gives_it(institution):
    factories.AdminContactFactory(institution=institution, email="second@example.edu")
    compared = 0
    for form in forms_to_compare(institution):
        for field in form:
            if getattr(field.field.widget, "input_type", None) == "radio":
                assert written(field) == djangos(field), (form.kind.slug, field.name, form.data)
                compared += 1
    assert compared >= 12  # expiry, contact and (for a kind with key types) key type, in four states each


def test_the_chosen_contact_cleans_to_that_admin_on_file(institution):
    second = factories.AdminContactFactory(institution=institution, email="second@example.edu")
    form = SubmissionForm({"contact": str(second.pk)}, institution=institution, kind=kinds.DEFAULT)
    form.is_valid()
    assert form.cleaned_data["contact"] == second
    elsewhere = factories.AdminContactFactory()  # another institution's admin is not a choice here
    form = SubmissionForm({"contact": str(elsewhere.pk)}, institution=institution, kind=kinds.DEFAULT)
    assert not form.is_valid()
    assert form.errors["contact"] == [
        "That address is no longer on file. Reload the page and choose one of those listed."
    ]


def test_each_input_carries_the_attributes_djangos_flatatt_writes(institution):
    """The inputs' attributes are written by a short copy of Django's flatatt (its format_html_join
    was 6% of the intake page): for every input of every state, the same text as Django's."""
    from django.forms.utils import flatatt

    from intake.templatetags.intake_forms import _attributes

    compared = 0
    for form in forms_to_compare(institution):
        for field in form:
            if getattr(field.field.widget, "input_type", None) != "radio":
                attrs = field.subwidgets[0].data["attrs"]
                assert _attributes(attrs) == flatatt(attrs), (form.kind.slug, field.name)
                assert _attributes(attrs) in str(intake_field(field))
                compared += 1
    assert compared >= 20
