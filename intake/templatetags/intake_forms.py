"""The intake form's fields as HTML, written in one function rather than rendered template by template.

Django renders each widget and each radio option through the form renderer's templates, and its
format_html escapes argument by argument through lazy-string wrappers; on the intake page that was
most of the time. `{% intake_field form.client_id %}` writes the field (label or legend, help,
errors, input or radio group) straight from the bound field: ids, names, values and attributes are
Django's own (tests/test_intake_field_html.py holds them to Django's), every value escaped as
Django escapes it. The help and error ids are the ones Django's aria-describedby points at, so
screen readers read both.
"""

import html

from django import template
from django.utils.safestring import mark_safe

register = template.Library()


def _escaped(value) -> str:
    """Django's conditional_escape without its lazy-string wrapper: a value marked safe (the error
    list, a help text written as HTML) as it is, anything else escaped as Django's escape does."""
    if hasattr(value, "__html__"):
        return value.__html__()
    return html.escape(str(value))


def _attributes(attrs: dict) -> str:
    """Django's flatatt: name="value" pairs, then the true booleans, each sorted by name."""
    pairs = sorted((name, value) for name, value in attrs.items() if not isinstance(value, bool) and value is not None)
    flags = sorted(name for name, value in attrs.items() if value is True)
    return "".join(f' {name}="{_escaped(value)}"' for name, value in pairs) + "".join(f" {name}" for name in flags)


@register.simple_tag
def intake_field(field):
    errors = field.errors  # Django's error list (id "<id>_error"), written only when it has errors
    error_html = errors.__html__() if errors else ""
    auto_id, name = _escaped(field.auto_id), _escaped(field.name)
    help_id = f"{auto_id}_helptext"
    help_html = f'<div class="help" id="{help_id}">{_escaped(field.help_text)}</div>' if field.help_text else ""
    classes = "field has-error" if errors else "field"
    label = _escaped(field.label)
    if getattr(field.field.widget, "input_type", None) == "radio":
        described = " ".join([help_id] * bool(field.help_text) + [f"{auto_id}_error"] * bool(errors))
        described_html = f' aria-describedby="{_escaped(described)}"' if described else ""
        return mark_safe(
            f'<div class="{classes}" id="field-{name}"><fieldset{described_html}><legend>{label}</legend>'
            f'{help_html}{error_html}<div id="{auto_id}">{_radio_options(field)}</div></fieldset></div>'
        )
    widget = field.subwidgets[0].data
    value_html = f' value="{_escaped(widget["value"])}"' if widget["value"] is not None else ""
    return mark_safe(
        f'<div class="{classes}" id="field-{name}"><label for="{_escaped(field.id_for_label)}">{label}</label>'
        f'{help_html}{error_html}<input type="{_escaped(widget["type"])}" name="{_escaped(widget["name"])}"'
        f"{value_html}{_attributes(widget['attrs'])}></div>"
    )


def _radio_options(field) -> str:
    """The attributes Django's RadioSelect gives each option, written from the choices: Django's
    option machinery (a context and a template per option) was most of the intake page's time."""
    chosen = set(field.field.widget.format_value(field.value()))
    invalid = ' aria-invalid="true"' if field.errors else ""
    required = " required" if field.field.required and field.form.use_required_attribute else ""
    auto_id, name = _escaped(field.auto_id), _escaped(field.name)
    return "".join(
        f'<div><label for="{auto_id}_{index}"><input type="radio" name="{name}" value="{_escaped(value)}"{invalid} '
        f'id="{auto_id}_{index}"{" checked" if str(value) in chosen else ""}{required}> {_escaped(label)}</label></div>'
        for index, (value, label) in enumerate(field.field.choices)
    )


@register.simple_tag
def error_count(form, extra_errors=None) -> int:
    """How many messages the error summary lists, so its title says "a problem" for one."""
    listed = sum(len(errors) for errors in form.errors.values()) if form is not None else 0
    return listed + len(extra_errors or [])
