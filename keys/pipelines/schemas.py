"""The API's shapes: what each answer holds, and so what its OpenAPI document promises."""

import datetime
from typing import Literal

from ninja import Field, Schema

from keys import kinds
from keys.models import PipelineEvent

KindSlug = Literal[tuple(kinds.KINDS)]  # type: ignore[valid-type]
EventType = Literal[tuple(value for value, _ in PipelineEvent.Type.choices)]  # type: ignore[valid-type]


class ErrorDetail(Schema):
    code: str = Field(
        description="Stable: missing_token, invalid_token, expired_token, revoked_token, out_of_scope, "
        "secrets_not_allowed, not_found, no_usable_credential, awaiting_authorization, canvas_refused, "
        "canvas_unavailable, rate_limited, invalid_request, secret_unreadable, audit_unavailable."
    )
    message: str = Field(description="In words, for the person reading the pipeline's log.")


class Error(Schema):
    error: ErrorDetail


class LastCheck(Schema):
    outcome: Literal["works", "rejected", "inconclusive"]
    reason: str
    at: datetime.datetime


class Grant(Schema):
    exists: bool = Field(description="A live grant Keydrop can get access tokens from.")
    authorized_by: str
    authorized_at: datetime.datetime | None


class WorkingCredential(Schema):
    credential_id: int
    institution: str
    institution_name: str
    kind: KindSlug
    client_id: str = Field(description="The full Client ID (Canvas Data 2) or developer key id.")
    canvas_url: str
    base_url: str = Field(description="The address to call with an access token.")
    base_url_variable: Literal["CANVAS_BASE_URL", "DAP_API_URL"]
    expires_at: datetime.datetime | None
    status: Literal["active", "superseded"]
    last_check: LastCheck | None
    grant: Grant | None = Field(description="Developer keys only: the Canvas admin's OAuth grant.")


class CredentialPage(Schema):
    items: list[WorkingCredential]
    count: int
    limit: int
    offset: int
    next_offset: int | None = Field(description="Pass as offset for the next page; null on the last.")


class AccessTokenOut(Schema):
    access_token: str
    token_type: Literal["Bearer"]
    expires_at: datetime.datetime = Field(description="It works until then; ask again after it.")
    base_url: str
    base_url_variable: Literal["CANVAS_BASE_URL", "DAP_API_URL"]
    credential_id: int


class SecretOut(Schema):
    client_id: str
    client_secret: str
    base_url: str
    base_url_variable: Literal["CANVAS_BASE_URL", "DAP_API_URL"]
    expires_at: datetime.datetime | None
    credential_id: int


class EventData(Schema):
    institution: str
    institution_name: str
    kind: KindSlug
    credential_id: int
    detail: str


class Event(Schema):
    id: str
    type: EventType
    timestamp: datetime.datetime
    data: EventData


class EventPage(Schema):
    events: list[Event]
    next_cursor: str = Field(description="Pass as after= next time; the same cursor while nothing new happened.")
