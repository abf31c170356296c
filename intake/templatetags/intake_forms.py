"""The intake form's fields as HTML, written in one function rather than rendered template by template.

Django renders each widget and each radio option through the form renderer's templates; on the
intake page that was about two thirds of the time. `{% intake_field form.client_id %}` writes the
same markup (label, input or radio group, errors, help text) straight from the bound field's
widget context: ids, names, values and attributes are Django's own, escaped by format_html.
"""

from django import template
from django.forms.utils import flatatt
from django.utils.html import format_html, format_html_join

register = template.Library()


@register.simple_tag
def intake_field(field):
    errors = field.errors or ""  # renders Django's error list, only when there are errors
    help_text = (
        format_html('<div class="help" id="{}_helptext">{}</div>', field.auto_id, field.help_text)
        if field.help_text
        else ""
    )
    if getattr(field.field.widget, "input_type", None) == "radio":
        options = format_html_join(
            "",
            '<div><label for="{}"><input type="radio" name="{}" value="{}"{}> {}</label></div>',
            (
                (
                    option.data["attrs"]["id"],
                    option.data["name"],
                    option.data["value"],
                    flatatt(option.data["attrs"]),
                    option.data["label"],
                )
                for option in field.subwidgets
            ),
        )
        return format_html(
            '<div class="field" id="field-{}"><fieldset><legend>{}</legend><div id="{}">{}</div>{}{}</fieldset></div>',
            field.name,
            field.label,
            field.auto_id,
            options,
            errors,
            help_text,
        )
    widget = field.subwidgets[0].data
    value = format_html(' value="{}"', widget["value"]) if widget["value"] is not None else ""
    return format_html(
        '<div class="field" id="field-{}"><label for="{}">{}</label><input type="{}" name="{}"{}{}>{}{}</div>',
        field.name,
        field.id_for_label,
        field.label,
        widget["type"],
        widget["name"],
        value,
        flatatt(widget["attrs"]),
        errors,
        help_text,
    )
