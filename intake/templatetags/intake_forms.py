"""The intake form's fields as HTML, written in one function rather than rendered template by template.

Django renders each widget and each radio option through the form renderer's templates; on the
intake page that was about two thirds of the time. `{% intake_field form.client_id %}` writes the
field (label or legend, help, errors, input or radio group) straight from the bound field's widget
context: ids, names, values and attributes are Django's own, escaped by format_html. The help and
error ids are the ones Django's aria-describedby points at, so screen readers read both.
"""

from django import template
from django.forms.utils import flatatt
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

register = template.Library()

RADIO_OPTION = '<div><label for="{}_{}"><input type="radio" name="{}" value="{}"{} id="{}_{}"{}{}> {}</label></div>'


@register.simple_tag
def intake_field(field):
    errors = field.errors or ""  # Django's error list (id "<id>_error"), only when there are errors
    help_id = f"{field.auto_id}_helptext"
    help_text = format_html('<div class="help" id="{}">{}</div>', help_id, field.help_text) if field.help_text else ""
    classes = "field has-error" if field.errors else "field"
    if getattr(field.field.widget, "input_type", None) == "radio":
        described = " ".join([help_id] * bool(field.help_text) + [f"{field.auto_id}_error"] * bool(field.errors))
        options = format_html_join("", RADIO_OPTION, _radio_options(field))
        return format_html(
            '<div class="{}" id="field-{}"><fieldset{}><legend>{}</legend>{}{}<div id="{}">{}</div></fieldset></div>',
            classes,
            field.name,
            format_html(' aria-describedby="{}"', described) if described else "",
            field.label,
            help_text,
            errors,
            field.auto_id,
            options,
        )
    widget = field.subwidgets[0].data
    return format_html(
        '<div class="{}" id="field-{}"><label for="{}">{}</label>{}{}<input type="{}" name="{}"{}{}></div>',
        classes,
        field.name,
        field.id_for_label,
        field.label,
        help_text,
        errors,
        widget["type"],
        widget["name"],
        format_html(' value="{}"', widget["value"]) if widget["value"] is not None else "",
        flatatt(widget["attrs"]),
    )


def _radio_options(field):
    """The attributes Django's RadioSelect gives each option (tests/test_intake_field_html.py holds
    them to Django's own), written from the choices: Django's option machinery was most of the time."""
    chosen = set(field.field.widget.format_value(field.value()))
    invalid = mark_safe(' aria-invalid="true"') if field.errors else ""
    required = " required" if field.field.required and field.form.use_required_attribute else ""
    for index, (value, label) in enumerate(field.field.choices):
        checked = " checked" if str(value) in chosen else ""
        yield field.auto_id, index, field.name, value, invalid, field.auto_id, index, checked, required, label


@register.simple_tag
def error_count(form, extra_errors=None) -> int:
    """How many messages the error summary lists, so its title says "a problem" for one."""
    listed = sum(len(errors) for errors in form.errors.values()) if form is not None else 0
    return listed + len(extra_errors or [])
